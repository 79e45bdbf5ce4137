"""POST /prompt validation, a transcription of ComfyUI 0.3.64's execution.validate_prompt.

The structure (what raises, what is caught where, error dict shapes and messages) follows the real
code so that the error bodies match traces 10-22; Python's own exceptions (KeyError '99', IndexError
'tuple index out of range') are left to happen exactly where ComfyUI lets them happen.
"""

from __future__ import annotations

import traceback
from typing import Any

from .catalog import NodeClass
from .nodes import Dirs

Result = tuple[bool, list[dict], str]
TRACEBACK_PLACEHOLDER = "<traceback lines omitted>"


def type_name(exc_type: type) -> str:
    module = exc_type.__module__
    return exc_type.__qualname__ if module == "builtins" else f"{module}.{exc_type.__qualname__}"


def format_traceback(ex: BaseException) -> list[str]:
    return traceback.format_tb(ex.__traceback__) or [TRACEBACK_PLACEHOLDER]


def types_compatible(received: Any, expected: Any) -> bool:
    """ComfyUI's validate_node_input (non-strict)."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return "*" in got or "*" in want or bool(got & want)


class Validator:
    def __init__(self, classes: dict[str, NodeClass], dirs: Dirs, prompt: dict) -> None:
        self.classes = classes
        self.dirs = dirs
        self.prompt = prompt
        self.validated: dict[str, Result] = {}

    def validate_node(self, unique_id: str) -> Result:
        if unique_id in self.validated:
            return self.validated[unique_id]
        inputs = self.prompt[unique_id]["inputs"]
        cls = self.classes[self.prompt[unique_id]["class_type"]]
        custom_args = _custom_validation_args(cls)
        errors: list[dict] = []
        valid = True
        for name in cls.input_names():
            input_type, category, extra = cls.input_info(name)
            info = [input_type, extra]
            if name not in inputs:
                if category == "required":
                    errors.append(_error("required_input_missing", "Required input is missing", name,
                                         {"input_name": name}))
                continue
            value = inputs[name]
            if isinstance(value, list):
                link_ok = self._validate_link(name, value, input_type, info, errors)
                valid = valid and link_ok
                continue
            error = _check_value(inputs, name, value, input_type, info, extra, name in custom_args)
            if error is not None:
                errors.append(error)
        if custom_args:
            errors.extend(self._custom_validation(cls, inputs, custom_args))
        result: Result = (not errors and valid, errors, unique_id)
        self.validated[unique_id] = result
        return result

    def _validate_link(self, name: str, value: list, input_type: Any, info: list, errors: list[dict]) -> bool:
        if len(value) != 2:
            errors.append(_error("bad_linked_input",
                                 "Bad linked input, must be a length-2 list of [node_id, slot_index]", name,
                                 {"input_name": name, "input_config": info, "received_value": value}))
            return True
        from_id = value[0]
        received_type = self.classes[self.prompt[from_id]["class_type"]].return_types[value[1]]
        if not types_compatible(received_type, input_type):
            details = f"{name}, received_type({received_type}) mismatch input_type({input_type})"
            errors.append(_error("return_type_mismatch", "Return type mismatch between linked nodes", details,
                                 {"input_name": name, "input_config": info, "received_type": received_type,
                                  "linked_node": value}))
            return True
        try:
            return self.validate_node(from_id)[0]
        except Exception as ex:
            reasons = [_error("exception_during_inner_validation", "Exception when validating inner node",
                              str(ex), {"input_name": name, "input_config": info,
                                        "exception_message": str(ex),
                                        "exception_type": type_name(type(ex)),
                                        "traceback": format_traceback(ex), "linked_node": value})]
            self.validated[from_id] = (False, reasons, from_id)
            return False

    def _custom_validation(self, cls: NodeClass, inputs: dict, args: list[str]) -> list[dict]:
        given = {name: inputs[name] for name in args if name in inputs}
        verdict = cls.impl.validate(self.dirs, **given)
        if verdict is True:
            return []
        errors = []
        for name in given:
            details = name if verdict is False else f"{name} - {verdict}"
            errors.append(_error("custom_validation_failed", "Custom validation failed for node", details,
                                 {"input_name": name}))
        return errors


def _custom_validation_args(cls: NodeClass) -> list[str]:
    if cls.impl.validate is None:
        return []
    code = cls.impl.validate.__code__
    return list(code.co_varnames[1 : code.co_argcount])  # after `dirs`


_CONVERTERS = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def _check_value(inputs: dict, name: str, value: Any, input_type: Any, info: list, extra: dict,
                 custom: bool) -> dict | None:
    if isinstance(value, dict) and "__value__" in value:
        value = inputs[name] = value["__value__"]
    convert = _CONVERTERS.get(input_type) if isinstance(input_type, str) else None
    if convert is not None:
        try:
            value = inputs[name] = convert(value)
        except Exception as ex:
            return _error("invalid_input_type", f"Failed to convert an input value to a {input_type} value",
                          f"{name}, {value}, {ex}",
                          {"input_name": name, "input_config": info, "received_value": value,
                           "exception_message": str(ex)})
    if custom:
        return None
    seen = {"input_name": name, "input_config": info, "received_value": value}
    if "min" in extra and value < extra["min"]:
        message = f"Value {value} smaller than min of {extra['min']}"
        return _error("value_smaller_than_min", message, name, seen)
    if "max" in extra and value > extra["max"]:
        return _error("value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}", name, seen)
    options = input_type if isinstance(input_type, list) else None
    if input_type == "COMBO":
        options = extra.get("options", [])
    if options is not None and value not in options:
        too_long = len(options) > 20  # ComfyUI does not echo huge lists (model file names)
        listed, config = (f"(list of length {len(options)})", None) if too_long else (str(options), info)
        return _error("value_not_in_list", "Value not in list", f"{name}: '{value}' not in {listed}",
                      {"input_name": name, "input_config": config, "received_value": value})
    return None


def _error(kind: str, message: str, details: str, extra_info: dict) -> dict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def _prompt_error(kind: str, message: str, details: str = "") -> dict:
    return _error(kind, message, details, {})


def _natural_key(node_id: str) -> tuple:
    return (0, int(node_id), "") if node_id.isdigit() else (1, 0, node_id)


def validate_prompt(classes: dict[str, NodeClass], dirs: Dirs, prompt: dict,
                    partial_targets: list[str] | None) -> tuple[bool, dict | None, list[str], dict]:
    """(valid, error, outputs to execute, node_errors) exactly like ComfyUI's validate_prompt."""
    outputs: list[str] = []
    for node_id in prompt:
        if "class_type" not in prompt[node_id]:
            return False, _prompt_error("invalid_prompt",
                                        "Cannot execute because a node is missing the class_type property.",
                                        f"Node ID '#{node_id}'"), [], {}
        class_type = prompt[node_id]["class_type"]
        if class_type not in classes:
            message = f"Cannot execute because node {class_type} does not exist."
            return False, _prompt_error("invalid_prompt", message, f"Node ID '#{node_id}'"), [], {}
        if classes[class_type].output_node and (partial_targets is None or node_id in partial_targets):
            outputs.append(node_id)
    if not outputs:
        return False, _prompt_error("prompt_no_outputs", "Prompt has no outputs"), [], {}
    # ComfyUI iterates a set() here (hash order, random per process); the fake uses descending node id,
    # which reproduces trace 24 (the good branch "4" runs before the failing branch "2").
    outputs.sort(key=_natural_key, reverse=True)

    validator = Validator(classes, dirs, prompt)
    good_outputs: list[str] = []
    failures: list[tuple[str, list[dict]]] = []
    node_errors: dict[str, dict] = {}
    for output in outputs:
        try:
            valid, reasons, _ = validator.validate_node(output)
        except Exception as ex:
            valid = False
            reasons = [_error("exception_during_validation", "Exception when validating node", str(ex),
                              {"exception_type": type_name(type(ex)), "traceback": format_traceback(ex)})]
            validator.validated[output] = (False, reasons, output)
        if valid:
            good_outputs.append(output)
            continue
        failures.append((output, reasons))
        for node_id, (node_valid, node_reasons, _) in validator.validated.items():
            if node_valid or not node_reasons:
                continue
            entry = node_errors.setdefault(node_id, {"errors": node_reasons, "dependent_outputs": [],
                                                     "class_type": prompt[node_id]["class_type"]})
            entry["dependent_outputs"].append(output)
    if not good_outputs:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errors in failures for e in errors)
        return False, _prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                                    details), [], node_errors
    return True, None, good_outputs, node_errors
