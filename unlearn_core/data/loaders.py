"""Loaders for files a user already has (registered with ``file_format``)."""
