"""The components beside the predictor, named and wired as KServe wires them.

A transformer and an explainer are custom containers (or, for the explainer, the built-in
SHAP one) that call the predictor. KServe gives their container `--model_name {isvc}`,
`--predictor_host {isvc}-predictor.{namespace}` and `--protocol` (the predictor's protocol) unless
the container sets them, and `--http_port` for the model server to listen on; modelplane does the
same. The predictor host is a name, which a cluster's DNS and mesh resolve: here a
`modelplane serve` component dials the gateway for it (`MODELPLANE_PREDICTOR_ADDRESS`), and the
gateway routes the name to the predictor's revisions.

Each component is reached at its own host, `{isvc}-{component}.{namespace}.{domain}` (and the
short, cluster-local `{isvc}-{component}.{namespace}`); the service's host goes to the
transformer when there is one, else to the predictor, and `:explain` on it to the explainer.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelplane.resources import inference_service

#: The built-in explainer's class, run by `modelplane serve` (runtimes/shap_explainer.py).
SHAP_CLASS = inference_service.SHAP_EXPLAINER_CLASS
#: The variable a `modelplane serve` component reads (its --predictor-address) to reach the
#: predictor host through the gateway.
ADDRESS_ENV = "MODELPLANE_PREDICTOR_ADDRESS"


def predictor_host(name: str, namespace: str) -> str:
    """What KServe passes as `--predictor_host`: the predictor's cluster-local name."""
    return f"{name}-predictor.{namespace}"


def hosts(name: str, component: str, namespace: str, domain: str) -> tuple[str, ...]:
    """A component's own hosts: the ingress one and the cluster-local one."""
    return (f"{name}-{component}.{namespace}.{domain}", f"{name}-{component}.{namespace}")


def shap_container(model: inference_service.PredictorModel) -> inference_service.Container:
    """`spec.explainer.shap` as the container that runs it: `modelplane serve` of the class."""
    args = ["serve", f"--model-class={SHAP_CLASS}", *model.args]
    if model.storage_uri:
        args.append(f"--storage-uri={model.storage_uri}")
    return inference_service.Container(
        name=inference_service.PREDICTOR_CONTAINER,
        image="modelplane",
        args=args,
        env=[inference_service.EnvVar(name=k, value=v) for k, v in model.env.items()],
    )


def link_args(argv: Sequence[str], *, name: str, namespace: str, protocol: str,
              ours: bool) -> list[str]:  # fmt: skip
    """`argv` with KServe's transformer and explainer arguments added where not already set."""
    out = list(argv)

    def given(*flags: str) -> bool:
        return any(a == f or a.startswith(f"{f}=") for a in out for f in flags)

    if not given("--model_name", "--model-name"):
        out.append(f"--model_name={name}")
    if not given("--predictor_host", "--predictor-host"):
        out.append(f"--predictor_host={predictor_host(name, namespace)}")
    if not given("--protocol", "--predictor_protocol", "--predictor-protocol"):
        out.append(f"--protocol={protocol}")
    if not ours and not given("--http_port", "--http-port"):
        out.append("--http_port={http_port}")  # `modelplane serve` takes its port from the env
    return out


def speaks_grpc(argv: Sequence[str]) -> bool:
    """Whether a component's command line has it call the predictor over grpc-v2."""
    flags = ("--protocol", "--predictor_protocol", "--predictor-protocol")
    for index, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if name in flags:
            if not value and index + 1 < len(argv):
                value = argv[index + 1]
            return value == "grpc-v2"
    return False
