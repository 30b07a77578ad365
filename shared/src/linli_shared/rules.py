"""The one exception domains raise when input breaks a rule. Pure Python: domains import it."""


class RuleViolation(ValueError):
    """Input that breaks a domain rule; `field` names the offending input (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
