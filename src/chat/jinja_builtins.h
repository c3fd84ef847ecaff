// Jinja's built-in filters, tests and globals, and the string, dict and list methods that
// templates call, with the semantics of Jinja2 and Python (and of Hugging Face's `tojson`,
// `raise_exception` and `strftime_now`).
#pragma once

#include <string>

#include "chat/jinja_renderer.h"

namespace gengyun::chat::jinja {

/// `subject.name` as a bound method (str.strip, dict.items, ...), or undefined when `subject`
/// has no method of that name. Methods that would change a list or dict are not offered (the
/// sandbox is immutable).
Value bound_method(const Value& subject, const std::string& name);

/// The global function `name` (range, namespace, dict, raise_exception, strftime_now), or
/// undefined.
Value global_function(const std::string& name);

/// `item in container` (substring, list member, dict key); TypeError where Python raises one.
bool contains(const Value& container, const Value& item);

/// Python's `format % args` for %s, %r, %d, %i, %f and %%.
std::string percent_format(Renderer& r, const std::string& format, const Value& args);

}  // namespace gengyun::chat::jinja
