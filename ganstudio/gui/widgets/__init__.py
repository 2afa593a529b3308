"""Widgets used by the panels: charts, image views, the dataset report, collapsible sections."""
