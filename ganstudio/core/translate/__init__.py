"""Image-to-image translation: pix2pix (paired) and CycleGAN (unpaired) training, full-resolution
inference in tiles, batch translation and the translator file format.

Importing this package registers the "translate" training task.
"""
from .batch import translate_batch, translate_file
from .inference import (DIRECTIONS, Translator, export_translator, load_translator, save_translator,
                        translate_array)
from .task import CycleGanTask, Pix2PixTask, TranslateOptions, TranslateTask

__all__ = ["DIRECTIONS", "CycleGanTask", "Pix2PixTask", "TranslateOptions", "TranslateTask", "Translator",
           "export_translator", "load_translator", "save_translator", "translate_array", "translate_batch",
           "translate_file"]
