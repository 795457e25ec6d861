"""The config file (named pools, defaults) and TLS beyond --insecure: a CA file and a
pinned SHA-256 fingerprint, against the simulator serving HTTPS on loopback with a
self-signed certificate made here by `openssl req`."""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.config import ENV_VAR
from planner.errors import ConnectionFailed, InputError
from planner.inventory import sample_path
from planner.inventory.collect import collect
from planner.sim import Simulator
from planner.tls import Tls, normalize_fingerprint, show_fingerprint
from tests.helpers.execsim import PASSWORD, PW_ENV, fleet

runner = CliRunner()


def _fingerprint(cert_pem) -> str:
    """As `openssl x509 -fingerprint -sha256` prints it (AB:CD:...)."""
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert_pem), "-noout", "-fingerprint", "-sha256"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()  # "sha256 Fingerprint=AB:CD:..."


@pytest.fixture
def tls_sim(cert):
    inv, _ = fleet(4)
    with Simulator(inv, password=PASSWORD, tls=cert) as sim:
        yield inv, sim


def test_fingerprint_parsing_accepts_openssl_output_and_refuses_junk(cert):
    printed = _fingerprint(cert[0])
    der = ssl.PEM_cert_to_DER_cert(cert[0].read_text())
    assert normalize_fingerprint(printed) == hashlib.sha256(der).hexdigest()
    assert show_fingerprint(normalize_fingerprint(printed)) == printed.split("=", 1)[1]
    with pytest.raises(InputError, match="not a SHA-256 fingerprint"):
        normalize_fingerprint("AB:CD")


def test_pinned_fingerprint_connects_and_a_wrong_one_is_refused_before_login(cert, tls_sim):
    inv, sim = tls_sim
    url = next(iter(sim.urls.values()))
    pin = normalize_fingerprint(_fingerprint(cert[0]))
    got = collect([url], "root", PASSWORD, insecure=Tls(fingerprint=pin))
    assert {p.uuid for p in got.pools} <= {p.uuid for p in inv.pools}
    logins = sim.logins
    wrong = pin[:-2] + ("00" if pin[-2:] != "00" else "11")
    with pytest.raises(ConnectionFailed) as e:
        collect([url], "root", PASSWORD, insecure=Tls(fingerprint=wrong))
    msg = str(e.value)
    assert "fingerprint mismatch" in msg and show_fingerprint(pin) in msg
    assert "\n" not in msg
    assert sim.logins == logins  # refused at the handshake: the password was never sent


def test_ca_file_verifies_the_chain(cert, tls_sim):
    _, sim = tls_sim
    url = next(iter(sim.urls.values()))
    with pytest.raises(ConnectionFailed, match="certificate verification failed"):
        collect([url], "root", PASSWORD)  # the system CAs do not know it
    assert collect([url], "root", PASSWORD, insecure=Tls(ca_file=cert[0])).pools


def test_tls_options_exclude_each_other(cert):
    with pytest.raises(InputError, match="not both"):
        Tls(insecure=True, ca_file=cert[0])


def _config(tmp_path, sim, *, pin: str | None = None, extra: str = "") -> str:
    lines = []
    for i, url in enumerate(sim.urls.values()):
        lines += [f"[pools.p{i}]", f'url = "{url}"', f'password_env = "{PW_ENV}"']
        if pin:
            lines.append(f'fingerprint = "{pin}"')
        lines.append("")
    path = tmp_path / "planner.toml"
    path.write_text(extra + "\n" + "\n".join(lines))
    return str(path)


def test_collect_with_config_pools_and_no_urls(cert, tls_sim, tmp_path):
    inv, sim = tls_sim
    conf = _config(tmp_path, sim, pin=_fingerprint(cert[0]).split("=", 1)[1])
    out = tmp_path / "inv.json"
    r = runner.invoke(app, ["--config", conf, "collect", "-o", str(out)], env={PW_ENV: PASSWORD})
    assert r.exit_code == 0, r.output
    assert len(json.loads(out.read_text())["pools"]) == len(inv.pools)
    # one named pool, the config found through the environment variable
    r = runner.invoke(
        app, ["collect", "--pool", "p1", "-o", "-"], env={PW_ENV: PASSWORD, ENV_VAR: conf}
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["pools"]) == 1
    assert PASSWORD not in r.output


def test_a_wrong_pin_on_the_command_line_is_one_line_exit_2(tls_sim):
    _, sim = tls_sim
    url = next(iter(sim.urls.values()))
    r = runner.invoke(
        app,
        ["collect", url, "--fingerprint", "00" * 32, "--password-env", PW_ENV, "-o", "-"],
        env={PW_ENV: PASSWORD},
    )
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "fingerprint mismatch" in r.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[pools.a]\nurl = "https://x"\npassword = "hunter2"\n', "passwords do not go"),
        ('[pools.a]\nuser = "root"\n', "pools.a.url: required"),
        ('[pools.a]\nurl = "https://x"\nfingerprint = "12"\n', "pools.a.fingerprint"),
        ("[defaults]\nheadroom = 1.5\n", "defaults.headroom"),
        ('[defaults]\nmode = "fast"\n', "defaults.mode"),
        ("[defaults\n", "not valid TOML"),
    ],
)
def test_config_mistakes_are_one_line_each(tmp_path, text, needle):
    conf = tmp_path / "c.toml"
    conf.write_text(text)
    r = runner.invoke(app, ["--config", str(conf), "version"])
    assert r.exit_code == 2
    assert needle in r.stderr and "Traceback" not in r.output
    assert "hunter2" not in r.output


def test_unknown_pool_and_missing_config_name_what_exists(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[pools.lab]\nurl = "http://127.0.0.1:1/"\n')
    r = runner.invoke(app, ["--config", str(conf), "collect", "--pool", "nope", "-o", "-"])
    assert r.exit_code == 2 and "no pool 'nope'" in r.stderr and "lab" in r.stderr
    r = runner.invoke(app, ["--config", str(tmp_path / "none.toml"), "version"])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = runner.invoke(app, ["version"], env={ENV_VAR: str(tmp_path / "none.toml")})
    assert r.exit_code == 2 and ENV_VAR in r.stderr


def test_defaults_apply_and_the_command_line_wins(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("[defaults]\nheadroom = 0.05\ntime_limit = 7\n")
    r = runner.invoke(app, ["--config", str(conf), "solve", "--solver", "greedy", "-o", "-"])
    assert json.loads(r.stdout)["options"]["headroom_fraction"] == 0.05
    r = runner.invoke(
        app, ["--config", str(conf), "solve", "--solver", "greedy", "--headroom", "0.02", "-o", "-"]
    )
    assert json.loads(r.stdout)["options"]["headroom_fraction"] == 0.02
    r = runner.invoke(app, ["solve", "--solver", "greedy", "-o", "-"])
    assert json.loads(r.stdout)["options"]["headroom_fraction"] == 0.0
    assert sample_path().exists()


def test_keyring_pool_without_the_package_or_entry_is_one_line(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[pools.a]\nurl = "http://127.0.0.1:1/"\nkeyring = "xen-planner-test"\n')
    r = runner.invoke(app, ["--config", str(conf), "collect", "--pool", "a", "-o", "-"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    # without the keyring package: how to get it; with it: the entry or the backend
    assert "keyring" in r.stderr and "pool a" in r.stderr and "Traceback" not in r.output


def test_pools_with_different_passwords_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("XP_A", "pw-Aaa-7")
    monkeypatch.setenv("XP_B", "pw-Bbb-9")
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[pools.a]\nurl = "http://127.0.0.1:1/"\npassword_env = "XP_A"\n'
        '[pools.b]\nurl = "http://127.0.0.1:2/"\npassword_env = "XP_B"\n'
    )
    r = runner.invoke(app, ["--config", str(conf), "collect", "-o", "-"])
    assert r.exit_code == 2 and "different passwords" in r.stderr
    assert "pw-Aaa-7" not in r.output and "pw-Bbb-9" not in r.output
