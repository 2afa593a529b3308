"""GAN Studio: train generators, translators and upscalers on your own image folders, offline."""

__version__ = "0.1.0"
APP_NAME = "GAN Studio"
APP_ID = "ganstudio"
