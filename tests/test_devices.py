import pytest
import torch

from brushwork import Config, ConfigError, devices
from brushwork.devices import DeviceError, resolve, resolve_precision


def test_resolve_cpu_and_missing_gpu(monkeypatch):
    assert resolve("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve("cuda")


def test_precision_names_map_to_dtypes():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == torch.float32
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    assert resolve_precision("fp16", cpu) == torch.float16
    with pytest.raises(DeviceError, match="--precision"):
        resolve_precision("int8", cpu)


@pytest.mark.parametrize("native, expect", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_precision_on_cpu_follows_native_bfloat16(monkeypatch, native, expect):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: native)
    assert resolve_precision("auto", torch.device("cpu")) == expect


def test_config_checks_precision():
    assert Config().precision == "auto"
    with pytest.raises(ConfigError, match="--precision must be one of"):
        Config(precision="fp64")


def test_device_names_are_parsed_in_one_place(monkeypatch):
    from brushwork.studio import Settings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="only 1 CUDA GPU"):
        resolve("cuda:1")
    for bad in ("gpu", "cuda:x", "cuda:²"):
        with pytest.raises(ConfigError, match="--device must be auto, cpu, cuda, cuda:N or mps"):
            resolve(bad)
        with pytest.raises(ConfigError, match="--device must be"):
            Settings(device=bad)
