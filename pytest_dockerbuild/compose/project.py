"""A Compose project as the plugin runs it: the resolved configuration rewritten so that
it runs offline, in parallel and is the plugin's to remove.

* a ``build:`` section becomes the image the plugin's builder made (:func:`build_arguments`
  turns the section into ``build()``'s arguments), and an ``image:`` goes through the
  base-image map; nothing is pulled;
* published ports go to random host ports on the loopback address (a port the file pins
  would collide between parallel runs), fixed container and network names are dropped
  (Compose names them per project);
* services, networks and volumes carry the run's labels, so the sweep of a later run
  removes what a killed one left.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_dockerbuild.build import Secret
from pytest_dockerbuild.dockerfile import normalize_image
from pytest_dockerbuild.errors import ComposeError

__all__ = ["build_arguments", "rewrite"]

#: ``build:`` keys and the ``build()`` arguments they become (others are refused by name)
_SAME = {"target": "target", "network": "network", "shm_size": "shm_size", "no_cache": "no_cache", "pull": "pull",
         "cache_from": "cache_from", "cache_to": "cache_to", "additional_contexts": "build_contexts",
         "ssh": "ssh"}  # fmt: skip
_IGNORED = {"context", "dockerfile", "args", "labels", "extra_hosts", "secrets", "tags", "platforms"}


def build_arguments(service: str, spec: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """The ``build()`` arguments of a service's resolved ``build:`` section (context and
    Dockerfile first); ``secrets`` is the project's top-level ``secrets:``."""
    unknown = sorted(set(spec) - set(_SAME) - _IGNORED)
    if unknown:
        raise ComposeError(f"service {service!r}: build key {unknown[0]!r} is not supported by pytest-dockerbuild")
    context = Path(spec["context"])
    arguments: dict[str, Any] = {"context": context, "dockerfile": spec.get("dockerfile")}
    arguments["build_args"] = {k: str(v) for k, v in (spec.get("args") or {}).items() if v is not None}
    arguments["labels"] = dict(spec.get("labels") or {})
    for key, name in _SAME.items():
        if spec.get(key) not in (None, [], {}):
            arguments[name] = spec[key]
    hosts = spec.get("extra_hosts") or []
    if hosts:
        pairs = [str(entry).replace("=", ":", 1).split(":", 1) for entry in hosts] if isinstance(hosts, list) else []
        arguments["extra_hosts"] = dict(hosts) if isinstance(hosts, dict) else {h: ip for h, ip in pairs}
    platforms = spec.get("platforms") or []
    if len(platforms) > 1:
        raise ComposeError(f"service {service!r}: builds for one platform only, not {platforms}")
    arguments.update({"platform": platforms[0]} if platforms else {})
    found = {}
    for entry in spec.get("secrets") or []:
        name = entry["source"] if isinstance(entry, dict) else str(entry)
        source = secrets.get(name) or {}
        if source.get("file"):
            found[name] = Secret(file=source["file"])
        elif source.get("environment"):
            found[name] = Secret(env=source["environment"])
        else:
            raise ComposeError(f"service {service!r}: build secret {name!r} has no file or environment source")
    arguments.update({"secrets": found} if found else {})
    return arguments


def rewrite(
    config: Mapping[str, Any], images: Mapping[str, str], image_map: Mapping[str, str], labels: Mapping[str, str],
    publish_address: str,
) -> dict[str, Any]:  # fmt: skip
    """The resolved ``config`` to run: built ``images`` (service -> image id) in place of
    ``build:``, other images through ``image_map``, ports on random host ports of
    ``publish_address``, ``labels`` on what Compose creates, no fixed names."""
    project = copy.deepcopy(dict(config))
    project.pop("name", None)
    services = project.get("services") or {}
    built = {normalize_image(services[name]["image"]): image for name, image in images.items()
             if services.get(name, {}).get("image")}  # fmt: skip  # "image:" beside "build:" names the result
    for name, service in services.items():
        service.pop("build", None)
        _alias_container_name(service)
        service.pop("profiles", None)  # the profiles asked for chose the services already
        if name in images:
            service["image"] = images[name]
        elif service.get("image"):
            reference = normalize_image(service["image"])
            service["image"] = built.get(reference) or image_map.get(reference, service["image"])
        service["pull_policy"] = "never"
        if service.get("network_mode"):  # the host's or another container's network: nothing to publish
            service.pop("ports", None)
        else:
            service["ports"] = [_random_port(port, publish_address) for port in service.get("ports") or []]
        service["labels"] = {**(service.get("labels") or {}), **labels}
    for kind in ("networks", "volumes"):
        for definition in (project.get(kind) or {}).values():
            if definition is None or definition.get("external"):
                continue
            definition.pop("name", None)
            definition["labels"] = {**(definition.get("labels") or {}), **labels}
    return project


def _alias_container_name(service: dict[str, Any]) -> None:
    """Drop a fixed container name (parallel runs would collide) but keep it resolvable: it
    becomes an alias of the service on each of its networks."""
    name = service.pop("container_name", None)
    if not name or service.get("network_mode"):
        return
    networks = service.get("networks") or {"default": None}
    for network, settings in list(networks.items()):
        settings = dict(settings or {})
        settings["aliases"] = [*(settings.get("aliases") or []), name]
        networks[network] = settings
    service["networks"] = networks


def _random_port(port: Mapping[str, Any], address: str) -> dict[str, Any]:
    """A port of a service, published on a random host port of ``address``."""
    return {"target": port["target"], "protocol": port.get("protocol", "tcp"), "host_ip": address}
