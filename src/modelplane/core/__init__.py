"""The core room: tensors, inference requests and responses, the Model contract, the error tree.

Nothing here knows about wire formats, web frameworks or I/O.
"""
