"""The operator's config file (TOML): named pools and command defaults (docs/cli.md,
"Config file").

```toml
[defaults]
time_limit = 60        # solve and execute --replan: seconds
headroom = 0.10        # solve, explain, whatif: share of host memory kept free
mode = "flow"          # execute: waves or flow

[pools.lab]
url = "https://xs-lab.example.org"
user = "root"                          # default root
password_env = "LAB_PW"                # or: keyring = "xen-planner" (service name)
fingerprint = "AB:CD:...:EF"           # or: ca_file = "/etc/ssl/lab-ca.pem"; insecure = true
```

Where it is read from, first found: `planner --config FILE`, the environment variable
`XEN_PLANNER_CONFIG`, then `config.toml` in the user config directory (platformdirs:
`~/.config/xen-planner/` on Linux). A file named by the first two must exist; the last is
optional. Every mistake is one line naming the file and the key. Passwords are never in
the file: a pool names an environment variable or a keyring entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.options import headroom_error
from planner.tls import normalize_fingerprint

ENV_VAR = "XEN_PLANNER_CONFIG"
APP_NAME = "xen-planner"
DEFAULT_KEYS = {"time_limit": (int, float), "headroom": (int, float), "mode": (str,)}
POOL_KEYS = ("url", "user", "password_env", "keyring", "ca_file", "fingerprint", "insecure")


@dataclass(frozen=True)
class PoolEntry:
    """One `[pools.NAME]` table. `keyring` is the keyring service name (the entry's user
    name is `user`)."""

    name: str
    url: str
    user: str = "root"
    password_env: str | None = None
    keyring: str | None = None
    ca_file: Path | None = None
    fingerprint: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class Config:
    """A parsed config file (`path` None: no file, every value a built-in default)."""

    path: Path | None = None
    pools: Mapping[str, PoolEntry] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def select(self, names: list[str]) -> list[PoolEntry]:
        """The pools `--pool` names (all of them when `names` is empty); an unknown name
        raises InputError listing the known ones."""
        if not names:
            return list(self.pools.values())
        bad = [n for n in names if n not in self.pools]
        if bad:
            where = f"{self.path}" if self.path else "no config file"
            known = ", ".join(self.pools) or "none"
            raise InputError(
                f"--pool: no pool {', '.join(map(repr, bad))} in {where} (pools: {known})"
            )
        return [self.pools[n] for n in dict.fromkeys(names)]

    def default_map(self) -> dict[str, dict[str, Any]]:
        """click's `default_map`: the `[defaults]` as option defaults per command."""
        d = self.defaults
        out: dict[str, dict[str, Any]] = {}
        for cmd, keys in (
            ("solve", ("time_limit", "headroom")),
            ("explain", ("headroom",)),
            ("whatif", ("headroom",)),
            ("execute", ("time_limit", "mode")),
        ):
            vals = {k: d[k] for k in keys if k in d}
            if vals:
                out[cmd] = vals
        return out


def default_path() -> Path:
    """`config.toml` in the user config directory (platformdirs; XDG without it)."""
    try:
        from platformdirs import user_config_dir

        return Path(user_config_dir(APP_NAME)) / "config.toml"
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / APP_NAME / "config.toml"


def find(explicit: Path | None) -> tuple[Path | None, bool]:
    """(path, required): --config, else $XEN_PLANNER_CONFIG, else the default path."""
    if explicit is not None:
        return explicit, True
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env), True
    return default_path(), False


def load(explicit: Path | None = None) -> Config:
    """Read the config (see the module docstring); errors raise InputError."""
    path, required = find(explicit)
    if path is None or not path.is_file():
        if required:
            how = "--config" if explicit is not None else f"${ENV_VAR}"
            raise InputError(f"{how} {path}: no such file")
        return Config()
    import tomllib

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML: {e}") from None
    return parse(doc, path)


def parse(doc: Mapping[str, Any], path: Path) -> Config:
    """A Config from a TOML document; every bad key or value is one problem."""
    problems: list[str] = []
    for k in doc:
        if k not in ("defaults", "pools"):
            problems.append(f"{k}: unknown table (expected [defaults] and [pools.NAME])")
    defaults = dict(doc.get("defaults", {}))
    problems += _defaults_problems(defaults)
    pools: dict[str, PoolEntry] = {}
    for name, t in dict(doc.get("pools", {})).items():
        entry = _pool_entry(name, t, path, problems)
        if entry is not None:
            pools[name] = entry
    if problems:
        raise InputError(
            f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", problems
        )
    return Config(path, pools, defaults)


def _defaults_problems(defaults: dict[str, Any]) -> list[str]:
    """What is wrong with the `[defaults]` table: unknown keys, types, ranges."""
    problems: list[str] = []
    for k, v in defaults.items():
        kinds = DEFAULT_KEYS.get(k)
        if kinds is None:
            problems.append(f"defaults.{k}: unknown key (known: {', '.join(DEFAULT_KEYS)})")
        elif not isinstance(v, kinds) or isinstance(v, bool):
            problems.append(f"defaults.{k}: wrong type {type(v).__name__}")
    headroom = defaults.get("headroom")
    if isinstance(headroom, int | float) and (why := headroom_error("defaults.headroom", headroom)):
        problems.append(why)
    if isinstance(defaults.get("time_limit"), int | float) and not defaults["time_limit"] > 0:
        problems.append(f"defaults.time_limit: must be positive, got {defaults['time_limit']}")
    if defaults.get("mode") not in (None, "waves", "flow"):
        problems.append(f"defaults.mode: must be waves or flow, got {defaults['mode']!r}")
    return problems


def _pool_entry(name: str, t: Any, path: Path, problems: list[str]) -> PoolEntry | None:
    """The `[pools.NAME]` table `t` as an entry (None without a usable url); what is wrong
    with it goes to `problems`."""
    where = f"pools.{name}"
    if not isinstance(t, dict):
        problems.append(f"{where}: must be a table")
        return None
    for k in t:
        if k not in POOL_KEYS:
            problems.append(f"{where}.{k}: unknown key (known: {', '.join(POOL_KEYS)})")
    url = t.get("url")
    if not isinstance(url, str) or not url:
        problems.append(f"{where}.url: required (the pool master's URL)")
        return None
    if "password" in t:
        problems.append(
            f"{where}.password: passwords do not go in the file; name an "
            "environment variable (password_env) or a keyring entry"
        )
    strs = {k: t.get(k) for k in ("user", "password_env", "keyring", "ca_file", "fingerprint")}
    for k, v in strs.items():
        if v is not None and not isinstance(v, str):
            problems.append(f"{where}.{k}: must be a string")
    if not isinstance(t.get("insecure", False), bool):
        problems.append(f"{where}.insecure: must be true or false")
    fp = _fingerprint(strs["fingerprint"], where, problems)
    tls_given = [k for k in ("ca_file", "fingerprint", "insecure") if t.get(k)]
    if len(tls_given) > 1:
        problems.append(f"{where}: give one of {', '.join(tls_given)}")
    if strs["password_env"] and strs["keyring"]:
        problems.append(f"{where}: give password_env or keyring, not both")
    return PoolEntry(
        name,
        url,
        user=_str_or(strs["user"], "root"),
        password_env=_str_or(strs["password_env"], None),
        keyring=_str_or(strs["keyring"], None),
        ca_file=_ca_path(strs["ca_file"], path),
        fingerprint=fp,
        insecure=bool(t.get("insecure", False)),
    )


def _str_or(value: Any, default: str | None) -> Any:
    """`value` when it is a string (a wrong type is a problem already), else `default`."""
    return value if isinstance(value, str) else default


def _fingerprint(value: Any, where: str, problems: list[str]) -> str | None:
    """The normalised `fingerprint` of a pool table, or None (absent or bad: a problem)."""

    if not isinstance(value, str):
        return None
    try:
        return normalize_fingerprint(value, f"{where}.fingerprint")
    except InputError as e:
        problems.append(e.message)
        return None


def _ca_path(ca: Any, path: Path) -> Path | None:
    """A pool's `ca_file`, relative to the config file `path` unless absolute."""
    if not isinstance(ca, str):
        return None
    ca_path = Path(ca).expanduser()
    if not ca_path.is_absolute():
        ca_path = path.parent / ca_path  # relative to the config file
    return ca_path


def password_for(entry: PoolEntry) -> str | None:
    """The password a pool entry points to (environment variable or keyring), or None
    when it names neither; a named source that is empty raises InputError."""
    if entry.password_env:
        value = os.environ.get(entry.password_env)
        if not value:
            raise InputError(
                f"pool {entry.name}: environment variable {entry.password_env} is not set"
            )
        return value
    if entry.keyring:
        try:
            import keyring
        except ImportError:
            raise InputError(
                f"pool {entry.name}: keyring = {entry.keyring!r} needs the "
                "keyring package (pip install keyring)"
            ) from None
        try:
            value = keyring.get_password(entry.keyring, entry.user)
        except Exception as e:  # no backend, a locked store: the keyring's own words
            first = str(e).split(". ")[0].strip() or type(e).__name__
            raise InputError(f"pool {entry.name}: keyring {entry.keyring!r}: {first}") from None
        if not value:
            raise InputError(
                f"pool {entry.name}: no keyring entry for service "
                f"{entry.keyring!r}, user {entry.user!r}"
            )
        return value
    return None
