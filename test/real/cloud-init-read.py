#!/usr/bin/python3
"""What the installed cloud-init makes of texts, for tests: one process reads a whole batch.

stdin: a JSON list of {"kind": K, "text": T}; stdout: a JSON list with one result per item.
  kind "yaml":      T read by PyYAML's SafeLoader, as cloud-init reads every cloud-config
                    -> {"value": CANON} or {"error": "..."}
  kind "user-data": T run through cloud-init's own user-data processing (MIME splitting, part
                    handlers, the cloud-config merger, the cloud_config file it writes and reads back)
                    -> {"value": CANON, "warnings": [...]}, the final cloud-config cloud-init acts on
  kind "schema":    T read by PyYAML and validated by cloud-init's schema, strictly
                    -> {"errors": [...], "deprecations": [...]} or {"error": "..."}
CANON is a JSON form that keeps Python's types apart (1, True, 1.0 and "1" all differ; dates,
floats and NaN compare as their repr) and ignores dict order. Run with the system python3, the one
cloud-init runs on.
"""
import datetime
import json
import logging
import os
import sys
import tempfile

import yaml
from cloudinit import handlers, helpers, user_data, util
from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_schema
from cloudinit.handlers.cloud_config import CloudConfigPartHandler


def canon(v):
    if isinstance(v, dict):
        pairs = [[canon(k), canon(x)] for k, x in v.items()]
        return {"dict": sorted(pairs, key=lambda p: json.dumps(p[0], sort_keys=True))}
    if isinstance(v, list):
        return {"list": [canon(x) for x in v]}
    if v is None:
        return None
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, (datetime.date, datetime.datetime)):
        return {type(v).__name__: repr(v)}
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    return {"other": repr(v)}


class Paths:
    """The directories cloud-init's handlers write to, in a scratch directory."""

    def __init__(self, d):
        self.d = d

    def get_ipath(self, name=None):
        return os.path.join(self.d, name or "")

    get_ipath_cur = get_ipath
    get_cpath = get_ipath


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def final_config(text):
    collect = Collect()
    logging.getLogger().addHandler(collect)
    try:
        with tempfile.TemporaryDirectory() as d:
            paths = Paths(d)
            msg = user_data.UserDataProcessor(paths).process(text.encode("utf-8"))
            handler = CloudConfigPartHandler(paths)
            registry = helpers.ContentHandlers()
            registry.register(handler)
            data = {"handlers": registry, "handlerdir": d, "data": None, "frequency": "once-per-instance", "handlercount": 0, "excluded": []}
            handler.handle_part(None, handlers.CONTENT_START, None, None, None, None)
            handlers.walk(msg, handlers.walker_callback, data)
            handler.handle_part(None, handlers.CONTENT_END, None, None, None, None)
            config = util.load_yaml(util.load_file(os.path.join(d, "cloud_config")))
    finally:
        logging.getLogger().removeHandler(collect)
    return {"value": canon(config), "warnings": collect.messages}


def read_yaml(text):
    try:
        return {"value": canon(yaml.load(text, Loader=yaml.SafeLoader))}
    except Exception as e:  # a refusal is a result here, not a failure of the script
        return {"error": str(e).replace("\n", " ")}


SCHEMA = get_schema()


def check_schema(text):
    try:
        config = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        return {"error": str(e).replace("\n", " ")}
    try:
        validate_cloudconfig_schema(config, SCHEMA, strict=True, log_details=False)
    except SchemaValidationError as e:
        return {"errors": [list(p) for p in e.schema_errors], "deprecations": [list(p) for p in e.schema_deprecations]}
    return {"errors": [], "deprecations": []}


KINDS = {"yaml": read_yaml, "user-data": final_config, "schema": check_schema}
items = json.loads(sys.stdin.buffer.read().decode("utf-8"))
sys.stdout.buffer.write(json.dumps([KINDS[i["kind"]](i["text"]) for i in items]).encode("utf-8"))
