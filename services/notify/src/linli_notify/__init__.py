"""Linli notify: notices to residents, responsible parties and partners, with proof of delivery."""
