"""The local target: the emulator in-process, and a file-system BlobStore beside the spec."""
