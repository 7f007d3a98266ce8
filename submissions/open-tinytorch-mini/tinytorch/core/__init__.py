"""The core modules: tensors and layers."""
