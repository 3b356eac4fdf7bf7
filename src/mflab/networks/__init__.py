"""Networks: activations with their Gaussian calculus, and the two-layer network."""
from .activations import ACTIVATIONS, Activation, get_activation, polynomial, register_activation
from .two_layer import TwoLayer, TwoLayerParams

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "polynomial", "register_activation", "TwoLayer", "TwoLayerParams"]
