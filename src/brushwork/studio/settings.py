"""The studio's own options (``brushwork serve`` builds its flags from them)."""

from __future__ import annotations

import ipaddress
import math
import socket
from dataclasses import dataclass

from ..config import parse_device
from ..options import ConfigError, option

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class Settings:
    # Loopback by default: the studio is for the person at this machine unless told otherwise.
    host: str = option("127.0.0.1", "address to listen on (0.0.0.0: every interface)")
    port: int = option(8000, "port to listen on")
    # Jobs painted at once; one on a CPU, where a second only halves the speed of each.
    workers: int = option(1, "jobs painted at the same time")
    # Jobs waiting or running at once; one more is answered 429 (busy).
    queue: int = option(8, "jobs waiting or running at most")
    # Cap on one upload's bytes (413 above it).
    max_upload_mb: float = option(25.0, "largest upload, in MiB")
    # Cap on one upload's pixels (422 above it), checked from the header before decoding.
    max_megapixels: float = option(40.0, "largest upload, in megapixels")
    # Largest output size a job may ask for, and most steps per scale.
    max_size: int = option(1024, "largest --size a job may ask for")
    max_iterations: int = option(1000, "most --iterations a job may ask for")
    # Style pictures in one job: each is a pass of the network at up to max_size px, one at a
    # time, before the job's first step (about 1.2 GB and seconds at 1024 px).
    max_styles: int = option(4, "most style pictures in one job")
    # Where jobs paint; every job uses it (the page cannot choose a device).
    device: str = option("auto", "device for every job: auto, cpu, cuda, cuda:N or mps")
    # More names the Host header may carry (a LAN name when listening on 0.0.0.0).
    allow_hosts: tuple[str, ...] = option((), "another host name the studio answers to; repeatable", flag="allow-host")

    def __post_init__(self):
        for name in ("port", "workers", "queue", "max_size", "max_iterations", "max_styles"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0 or (name == "port" and value > 65535):
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive whole number, not {value!r}")
        for name in ("max_upload_mb", "max_megapixels"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a number more than 0, not {value!r}")
        parse_device(self.device)  # a wrong --device is told when the studio starts, not by every job

    @property
    def max_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1e6)

    def hosts(self) -> set[str]:
        """The Host header values the studio answers (``name`` and ``name:port``): others are
        refused, which stops DNS-rebinding pages from reaching a studio on loopback."""
        names = self._names()
        return names | {f"{n}:{self.port}" for n in names}

    def origins(self) -> set[str]:
        """The page's own origins, scheme, host and port exact (the port left out only where it is
        http's 80, as browsers send it): a POST or DELETE from any other is refused."""
        names = self._names()
        bare = {f"http://{n}" for n in names} if self.port == 80 else set()
        return {f"http://{n}:{self.port}" for n in names} | bare

    def _names(self) -> set[str]:
        names = {self.host, *self.allow_hosts}
        if _is_loopback(self.host):
            names |= set(LOOPBACK_NAMES)
        if self.host in ("0.0.0.0", "::", ""):
            names |= set(LOOPBACK_NAMES) | _own_names()
        return {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _own_names() -> set[str]:
    """This machine's name and addresses, for a studio listening on every interface."""
    name = socket.gethostname()
    names = {name, socket.getfqdn()}
    try:
        # An address is a str; only an IPv6 address on a Python built without IPv6 is an int, never a host name.
        names |= {a for info in socket.getaddrinfo(name, None) if isinstance(a := info[4][0], str)}
    except OSError:
        pass
    return names
