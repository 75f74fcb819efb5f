"""The front door's structure: no module imports another module's private (underscore)
name; the configuration keeps no ranges of its own (every numeric field is checked by
the package's one validator of that parameter, the same the engines use)."""
import ast
from pathlib import Path

import pytest

import pyscale

ROOT = Path(pyscale.__file__).parent


def _is_module(package: Path, name: str) -> bool:
    return (package / name).is_dir() or (package / f"{name}.py").is_file() or \
        any(package.glob(f"{name}.*.so")) or (package / f"{name}").with_suffix(".pyi").exists()


def test_no_module_imports_a_private_name_of_another():
    offenders = []
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                package = base.joinpath(*(node.module or "").split(".")) if node.module \
                    else base
            elif node.module and node.module.startswith("pyscale"):
                package = ROOT.parent.joinpath(*node.module.split("."))
            else:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__") and \
                        not _is_module(package, alias.name):
                    offenders.append(f"{path.relative_to(ROOT)}: {alias.name} from "
                                     f"{node.module}")
    assert not offenders, "private names imported across modules:\n" + "\n".join(offenders)


@pytest.mark.parametrize("field,value,engine", [
    ("rtol", 1e-15, lambda v: pyscale.simulate(P, "flow", t=1.0, rtol=v)),
    ("steps", -1, lambda v: pyscale.simulate(P, "gd", lr=1e-2, steps=v)),
    ("lr", 0.0, lambda v: pyscale.simulate(P, "gd", lr=v, steps=10)),
    ("batch", 0, lambda v: pyscale.simulate(P, "sgd", lr=1e-3, steps=10, batch=v)),
    ("noise", -0.1, lambda v: pyscale.simulate(P, "sgd", lr=1e-3, steps=10, noise=v)),
    ("records", 0, lambda v: pyscale.simulate(P, "gd", lr=1e-2, steps=10, record=v)),
])
def test_a_config_field_and_its_engine_option_agree(field, value, engine):
    """Refused by the configuration exactly when refused by the engine, with one message."""
    from pyscale.app.config import ConfigError, check_field
    with pytest.raises(ConfigError) as config_err:
        check_field(f"run.{field}", field, value)
    with pytest.raises((ValueError, TypeError)) as engine_err:
        engine(value)
    reason = str(config_err.value).split(": ", 1)[1]
    assert reason in str(engine_err.value), (reason, str(engine_err.value))


P = pyscale.Problem.power_law(20, 2.0, seed=0)


def test_the_configuration_keeps_no_ranges_of_its_own():
    import pyscale.app.config as config
    assert not hasattr(config, "RANGES") and not hasattr(config, "Range")
    from pyscale import _validate
    # figures add their dimension, networks their widths (pyscale.model.network.units_of)
    assert set(config.FIELDS) == set(_validate.PARAMETERS) | {"figure_d", *config.UNIT_FIELDS}
