"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired) training, full-resolution
inference in tiles, batch translation and the translator file format.

Importing this package registers the "translate" training task.
"""
from .task import CycleGanTask, Pix2PixTask, TranslateOptions, TranslateTask

__all__ = ["CycleGanTask", "Pix2PixTask", "TranslateOptions", "TranslateTask"]
