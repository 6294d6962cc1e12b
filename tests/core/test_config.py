from dataclasses import dataclass, field
from typing import Literal

import pytest

from recforge.core.config import apply_overrides, from_dict, load_toml
from recforge.core.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    width: int = 4
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    lr: float = 0.1
    layers: tuple[int, ...] = (8, 4)
    inner: Inner = field(default_factory=Inner)
    note: str | None = None


def test_defaults_file_override_precedence(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("lr = 0.5\n[inner]\nwidth = 7\n")
    data = apply_overrides(load_toml(path), ["inner.kind=b", "layers=[3, 2, 1]"])
    config = from_dict(Outer, data, source=path)
    assert config == Outer(lr=0.5, layers=(3, 2, 1), inner=Inner(width=7, kind="b"))


def test_int_accepted_for_float_but_not_bool():
    assert from_dict(Outer, {"lr": 1}).lr == 1.0
    with pytest.raises(ConfigError, match="'lr'"):
        from_dict(Outer, {"lr": True})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"inner": {"widht": 3}}, "inner.widht"),
        ({"inner": {"width": "3"}}, "inner.width"),
        ({"inner": {"kind": "c"}}, "inner.kind"),
        ({"layers": [1, "x"]}, "layers[1]"),
        ({"note": 3}, "note"),
    ],
)
def test_errors_name_the_key(data, key):
    with pytest.raises(ConfigError) as info:
        from_dict(Outer, data, source="x.toml")
    assert f"'{key}'" in str(info.value)
    assert str(info.value).startswith("x.toml: ")


def test_toml_syntax_error_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("lr = = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_toml(path)


def test_override_into_non_table_is_an_error():
    with pytest.raises(ConfigError, match="lr"):
        apply_overrides({"lr": 1.0}, ["lr.x=2"])
