"""Reading the words written in pictures (OCR): a recogniser in a child process of its own.

``rapidocr-onnxruntime`` (PP-OCRv4 Chinese + English detection and recognition, the weights
inside the wheel) runs in :mod:`indexer.ocr.child`; :mod:`indexer.ocr.recogniser` talks to it
with a deadline per picture and starts it again after a crash or a hang, so one hostile
picture fails alone. Nothing of it is imported into the serving process.
"""
