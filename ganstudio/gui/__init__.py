"""The desktop app: a thin Qt layer over ganstudio.core. The only package that imports Qt."""
