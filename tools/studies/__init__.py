"""tools/studies"""
