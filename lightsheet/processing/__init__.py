"""Image processing: parallel processing of saved runs on shared arrays (``shared_array``,
``pool``, ``corrections``); numpy and shared memory only, no file formats.
"""
