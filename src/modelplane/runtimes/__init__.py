"""The runtimes room: one module per model framework, each implementing the `Model` contract.

`selector.create_model` picks a runtime by model format, model class or the files in the model
directory. Every runtime imports its framework inside its own functions, so importing this
package (or the selector) never pulls in scikit-learn, XGBoost, LightGBM, ONNX Runtime or
PyTorch. Tabular runtimes share `tabular.TabularModel`; tensor runtimes (ONNX, PyTorch) share
`tensor_model.TensorModel`.
"""
