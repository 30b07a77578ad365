"""Linli inspections: checklists, inspections and rectifications."""
