"""The base of the Train panel's option forms: controls that map one-to-one onto config fields.

Each control is registered under its field's name (the same name as the CLI flag and the key in a
run's config.json). Its tooltip is a plain-words explanation written for artists, followed by the
flag and the field's one-line definition from ``field_help``, so a tooltip also tells which CLI
flag does the same. ``values()``/``set_values()`` turn the controls into plain JSON values and back
(the panel remembers them in the preferences).
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from ganstudio.core.config import field_help


class OptionForm(QWidget):
    """Controls registered by field name, with tooltips, values and a ``changed`` signal."""

    changed = Signal()      # any registered option changed

    def __init__(self, *config_classes: type, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._help: dict[str, str] = {}
        for cls in config_classes:
            self._help.update(field_help(cls))
        self._widgets: dict[str, QWidget] = {}

    # -- building controls ---------------------------------------------------------------------
    def _register(self, name: str, widget: QWidget, plain: str) -> None:
        self._widgets[name] = widget
        widget.setObjectName(name)
        technical = self._help.get(name)
        flag = "--" + name.replace("_", "-")
        widget.setToolTip(plain + (f"\n\n{flag}: {technical}" if technical else ""))
        changed_signal(widget).connect(self.changed)

    def _combo(self, name: str, items: list[tuple[Any, str]], plain: str) -> QComboBox:
        combo = QComboBox()
        for value, text in items:
            combo.addItem(text, value)
        self._register(name, combo, plain)
        return combo

    def _check(self, name: str, text: str, value: bool, plain: str) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(value)
        self._register(name, box, plain)
        return box

    def _int_spin(self, name: str, value: int, low: int, high: int, plain: str, *, step: int = 1,
                  special: str | None = None) -> QSpinBox:
        """``special``: the text shown at ``low`` (e.g. "automatic" for a 0 that means a default)."""
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.setGroupSeparatorShown(True)
        if special:
            spin.setSpecialValueText(special)
        self._register(name, spin, plain)
        return spin

    def _float_spin(self, name: str, value: float, low: float, high: float, step: float, decimals: int,
                    plain: str) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setValue(value)
        self._register(name, spin, plain)
        return spin

    # -- values --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """Every option as a plain JSON value, keyed by config field name."""
        return {name: widget_value(widget) for name, widget in self._widgets.items()}

    def set_values(self, values: dict[str, Any]) -> None:
        """Apply remembered options; values that no longer fit a control are ignored."""
        for name, value in values.items():
            widget = self._widgets.get(name)
            if widget is not None:
                set_widget_value(widget, value)

    def option_widgets(self) -> dict[str, QWidget]:
        """The control of each option, by config field name (for tooltip checks and tests)."""
        return dict(self._widgets)


def form_layout(widget: QWidget, indent: int = 0) -> QFormLayout:
    """A form layout on ``widget`` whose fields take the full width."""
    form = QFormLayout(widget)
    form.setContentsMargins(indent, 0, 0, 0)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def align_labels(forms: list[QFormLayout]) -> None:
    """Give the label columns of forms stacked one above the other the same width, so their fields line up."""
    labels = [form.itemAt(row, QFormLayout.ItemRole.LabelRole) for form in forms for row in range(form.rowCount())]
    widgets = [item.widget() for item in labels if item is not None and item.widget() is not None]
    width = max((w.sizeHint().width() for w in widgets), default=0)
    for widget in widgets:
        widget.setMinimumWidth(width)


def changed_signal(widget: QWidget):
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, QCheckBox):
        return widget.toggled
    return widget.valueChanged


def widget_value(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    return widget.value()


def set_widget_value(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QComboBox):
        index = widget.findData(value)
        if index >= 0:
            widget.setCurrentIndex(index)
    elif isinstance(widget, QCheckBox):
        if isinstance(value, bool):
            widget.setChecked(value)
    elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        restore_spin(widget, value)


def restore_spin(spin: QSpinBox | QDoubleSpinBox, value: Any) -> None:
    """Set a remembered number, kept within the box's range: a settings file edited by hand, or
    written by another version, must never stop the window from opening (Qt raises OverflowError
    for an int beyond 32 bits). Anything that is not a number is ignored."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:   # NaN
        return
    if isinstance(spin, QSpinBox):
        if not isinstance(value, int):
            return
        spin.setValue(max(spin.minimum(), min(spin.maximum(), value)))
    else:
        spin.setValue(max(spin.minimum(), min(spin.maximum(), float(value))))
