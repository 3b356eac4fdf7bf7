"""Networks: activations with their Gaussian calculus, and the two-layer network."""
from .activations import ACTIVATIONS, Activation, get_activation, polynomial
from .two_layer import TwoLayer, TwoLayerParams

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "polynomial", "TwoLayer", "TwoLayerParams"]
