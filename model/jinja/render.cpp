// Runs a parsed template: expressions evaluated as jinja2 does, statements in scopes (a for
// loop's body and a macro's have their own; if's does not), output into a string.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "model/jinja/builtins.h"
#include "model/jinja/parser.h"
#include "model/jinja/template.h"
#include "model/jinja/text.h"

namespace tandem::jinja {
namespace {

// Bounds on a template gone wrong (or written to hurt): its output and its loop turns.
constexpr size_t kMaxOutputBytes = size_t(64) << 20;
constexpr int64_t kMaxSteps = 10'000'000;
constexpr int kMaxCallDepth = 64;

enum class Flow { kNormal, kBreak, kContinue };

using Scope = std::unordered_map<std::string, Value>;

class Renderer {
 public:
  explicit Renderer(const Dict& context) {
    scopes_.emplace_back();
    for (const auto& [name, value] : globals()) scopes_[0][name] = value;
    for (const auto& [name, value] : context) scopes_[0][name] = value;
  }

  Flow run(const Body& body, std::string& out) {
    for (const auto& node : body) {
      const Flow flow = run(*node, out);
      if (flow != Flow::kNormal) return flow;
      if (out.size() > kMaxOutputBytes) throw TemplateError("the chat template's output passed 64 MiB");
    }
    return Flow::kNormal;
  }

 private:
  TemplateError error(int line, const std::string& what) const {
    return TemplateError("chat template line " + std::to_string(line) + ": " + what);
  }

  void step(int line) {
    if (++steps_ > kMaxSteps) throw error(line, "the template ran for more than 10 million steps");
  }

  Value lookup(const std::string& name) const {
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
      auto it = scope->find(name);
      if (it != scope->end()) return it->second;
    }
    return Value();
  }

  Flow run(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; return Flow::kNormal;
      case Node::Kind::kOutput: out += eval(*n.expr).str(); return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [condition, body] : n.branches)
          if (!condition || eval(*condition).truthy()) return run(body, out);
        return Flow::kNormal;
      case Node::Kind::kFor: return run_for(n, out);
      case Node::Kind::kSet: {
        if (!n.attribute.empty()) {
          const Value target = lookup(n.targets[0]);
          if (!target.is_namespace())
            throw error(n.line, "cannot set an attribute of '" + n.targets[0] + "', not a namespace()");
          Value value = eval(*n.expr);
          // Shared objects could make a cycle, which nothing would ever free.
          if (value.holds(target)) throw error(n.line, "a namespace cannot hold itself");
          target.set(n.attribute, std::move(value));
          return Flow::kNormal;
        }
        Value value;
        if (n.expr) {
          value = eval(*n.expr);
        } else {
          std::string captured;
          run(n.body, captured);
          value = Value(captured);
        }
        assign(n.targets, value, n.line);
        return Flow::kNormal;
      }
      case Node::Kind::kMacro: scopes_.back()[n.targets[0]] = macro(n); return Flow::kNormal;
      case Node::Kind::kBreak: return Flow::kBreak;
      case Node::Kind::kContinue: return Flow::kContinue;
      case Node::Kind::kFilter: {
        std::string captured;
        run(n.body, captured);
        out += apply_filter(n.targets[0], Value(captured), {}).str();
        return Flow::kNormal;
      }
    }
    return Flow::kNormal;
  }

  void assign(const std::vector<std::string>& targets, const Value& value, int line) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = value;
      return;
    }
    const List items = value.items();
    if (items.size() != targets.size())
      throw error(line, "cannot unpack " + std::to_string(items.size()) + " values into " +
                            std::to_string(targets.size()) + " names");
    for (size_t i = 0; i < targets.size(); ++i) scopes_.back()[targets[i]] = items[i];
  }

  Flow run_for(const Node& n, std::string& out) {
    List items;
    for (const Value& item : eval(*n.expr).items()) {
      if (n.filter) {
        scopes_.emplace_back();
        assign(n.targets, item, n.line);
        const bool keep = eval(*n.filter).truthy();
        scopes_.pop_back();
        if (!keep) continue;
      }
      items.push_back(item);
    }
    if (items.empty()) return run(n.else_body, out);
    const int64_t length = int64_t(items.size());
    for (int64_t i = 0; i < length; ++i) {
      step(n.line);
      scopes_.emplace_back();
      Dict loop = {{"index", Value(i + 1)},
                   {"index0", Value(i)},
                   {"revindex", Value(length - i)},
                   {"revindex0", Value(length - i - 1)},
                   {"first", Value(i == 0)},
                   {"last", Value(i == length - 1)},
                   {"length", Value(length)},
                   {"previtem", i > 0 ? items[size_t(i - 1)] : Value()},
                   {"nextitem", i + 1 < length ? items[size_t(i + 1)] : Value()}};
      loop.emplace_back("cycle", Value::function([i](const Arguments& a) {
                          return a.positional.empty() ? Value() : a.positional[size_t(i) % a.positional.size()];
                        }));
      scopes_.back()["loop"] = Value(std::move(loop));
      assign(n.targets, items[size_t(i)], n.line);
      const Flow flow = run(n.body, out);
      scopes_.pop_back();
      if (flow == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  // A macro: called, it renders its body in a scope of its own over the template's globals.
  Value macro(const Node& n) {
    return Value::function([this, &n](const Arguments& a) {
      if (++depth_ > kMaxCallDepth) throw error(n.line, "macros nested more than 64 deep");
      std::vector<Scope> saved = {scopes_.begin() + 1, scopes_.end()};
      scopes_.resize(1);
      scopes_.emplace_back();
      for (size_t i = 1; i < n.targets.size(); ++i) {
        const ExprPtr& fallback = n.defaults[i - 1];
        Value v = a.get(n.targets[i], i - 1, Value());
        if (v.is_undefined() && fallback) v = eval(*fallback);
        scopes_.back()[n.targets[i]] = v;
      }
      std::string out;
      run(n.body, out);
      scopes_.resize(1);
      scopes_.insert(scopes_.end(), saved.begin(), saved.end());
      --depth_;
      return Value(out);
    });
  }

  Arguments arguments(const Expr& e, size_t first) {
    Arguments a;
    for (size_t i = first; i < e.args.size(); ++i) a.positional.push_back(eval(*e.args[i]));
    for (const auto& [key, value] : e.keywords) a.keywords.emplace_back(key, eval(*value));
    return a;
  }

  Value attribute(const Value& target, const std::string& name, const Expr& e) {
    if (target.is_undefined())
      throw error(e.line, "'" + describe(*e.args[0]) + "' is undefined (reading ." + name + ")");
    if (target.is_dict() && !target.is_namespace()) {
      Value m = method(target, name);
      return m.is_undefined() ? target.get(name) : m;
    }
    if (target.is_namespace()) return target.get(name);
    return method(target, name);
  }

  Value item(const Value& target, const Value& key, const Expr& e) {
    if (target.is_undefined()) throw error(e.line, "'" + describe(*e.args[0]) + "' is undefined (reading an item)");
    if (target.is_dict()) return key.is_string() ? target.get(key.string()) : Value();
    if ((target.is_list() || target.is_string()) && key.kind() == Value::Kind::kInt) {
      const List items = target.is_list() ? List() : target.items();
      const List& seq = target.is_list() ? target.list() : items;
      int64_t i = key.integer();
      if (i < 0) i += int64_t(seq.size());
      return i >= 0 && i < int64_t(seq.size()) ? seq[size_t(i)] : Value();
    }
    return key.is_string() ? method(target, key.string()) : Value();
  }

  Value slice(const Expr& e) {
    const Value target = eval(*e.args[0]);
    const bool text = target.is_string();
    const List items = target.items();
    const int64_t size = int64_t(items.size());
    const int64_t step = e.args[3] ? eval(*e.args[3]).integer() : 1;
    if (step == 0) throw error(e.line, "slice step cannot be zero");
    auto bound = [&](const ExprPtr& x, int64_t otherwise) {
      if (!x) return otherwise;
      const Value v = eval(*x);
      if (v.is_none()) return otherwise;
      int64_t i = v.integer();
      if (i < 0) i += size;
      return step > 0 ? std::clamp<int64_t>(i, 0, size) : std::clamp<int64_t>(i, -1, size - 1);
    };
    const int64_t start = bound(e.args[1], step > 0 ? 0 : size - 1);
    const int64_t stop = bound(e.args[2], step > 0 ? size : -1);
    List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(items[size_t(i)]);
    if (!text) return Value(std::move(out));
    std::string s;
    for (const Value& c : out) s += c.string();
    return Value(s);
  }

  static std::string describe(const Expr& e) {
    if (e.kind == Expr::Kind::kName) return e.name;
    if (e.kind == Expr::Kind::kAttribute) return describe(*e.args[0]) + "." + e.name;
    return "value";
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.value;
      case Expr::Kind::kName: return lookup(e.name);
      case Expr::Kind::kList: {
        List items;
        for (const auto& a : e.args) items.push_back(eval(*a));
        return Value(std::move(items));
      }
      case Expr::Kind::kDict: {
        Value dict{Dict()};
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) dict.set(eval(*e.args[i]).str(), eval(*e.args[i + 1]));
        return dict;
      }
      case Expr::Kind::kAttribute: return attribute(eval(*e.args[0]), e.name, e);
      case Expr::Kind::kItem: return item(eval(*e.args[0]), eval(*e.args[1]), e);
      case Expr::Kind::kSlice: return slice(e);
      case Expr::Kind::kCall: {
        const Value callee = eval(*e.args[0]);
        if (callee.kind() != Value::Kind::kFunction)
          throw error(e.line, "'" + describe(*e.args[0]) + "' is not callable (" + callee.type_name() + ")");
        return callee.callable()(arguments(e, 1));
      }
      case Expr::Kind::kFilter: return apply_filter(e.name, eval(*e.args[0]), arguments(e, 1));
      case Expr::Kind::kTest: {
        const bool pass = apply_test(e.name, eval(*e.args[0]), arguments(e, 1));
        return Value(e.op == "not" ? !pass : pass);
      }
      case Expr::Kind::kUnary: {
        const Value v = eval(*e.args[0]);
        if (e.op == "not") return Value(!v.truthy());
        if (!v.is_number()) throw error(e.line, "bad operand type for unary " + e.op + ": '" + v.type_name() + "'");
        if (e.op == "+") return v;
        return v.kind() == Value::Kind::kFloat ? Value(-v.number()) : Value(-v.integer());
      }
      case Expr::Kind::kBinary: return binary(e);
      case Expr::Kind::kCondition:
        if (eval(*e.args[1]).truthy()) return eval(*e.args[0]);
        return e.args[2] ? eval(*e.args[2]) : Value();
    }
    return Value();
  }

  Value binary(const Expr& e) {
    const std::string& op = e.op;
    const Value a = eval(*e.args[0]);
    if (op == "and") return a.truthy() ? eval(*e.args[1]) : a;
    if (op == "or") return a.truthy() ? a : eval(*e.args[1]);
    const Value b = eval(*e.args[1]);
    if (op == "~") return Value(a.str() + b.str());
    if (op == "==") return Value(a == b);
    if (op == "!=") return Value(a != b);
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int c;
      try {
        c = Value::compare(a, b);
      } catch (const TemplateError& x) { throw error(e.line, x.what()); }
      return Value(op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0);
    }
    if (op == "in" || op == "not in") {
      bool found;
      if (b.is_string()) {
        if (!a.is_string()) throw error(e.line, "'in <string>' requires a string as left operand");
        found = b.string().find(a.string()) != std::string::npos;
      } else if (b.is_dict()) {
        found = a.is_string() && !b.get(a.string()).is_undefined();
      } else {
        found = false;
        for (const Value& item : b.items()) found = found || item == a;
      }
      return Value(op == "in" ? found : !found);
    }
    return arithmetic(op, a, b, e.line);
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b, int line) {
    auto fail = [&]() {
      return error(line,
                   "unsupported operand types for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
    };
    if (op == "+" && a.is_string() && b.is_string()) {
      if (!a.is_markup() && !b.is_markup()) return Value(a.string() + b.string());
      auto escaped = [](const Value& v) { return v.is_markup() ? v.string() : escape_html(v.string()); };
      return Value::markup(escaped(a) + escaped(b));
    }
    if (op == "+" && a.is_list() && b.is_list()) {
      List joined = a.list();
      joined.insert(joined.end(), b.list().begin(), b.list().end());
      return Value(std::move(joined));
    }
    if (op == "*" && (a.is_string() || a.is_list()) && b.kind() == Value::Kind::kInt) {
      const int64_t size = int64_t(a.is_string() ? a.string().size() : a.list().size());
      if (b.integer() > int64_t(kMaxOutputBytes) / std::max<int64_t>(size, 1))
        throw error(line, "a repetition beyond 64 MiB");
      if (a.is_string()) {
        std::string out;
        for (int64_t i = 0; i < b.integer(); ++i) out += a.string();
        return Value(out);
      }
      List out;
      for (int64_t i = 0; i < b.integer(); ++i) out.insert(out.end(), a.list().begin(), a.list().end());
      return Value(std::move(out));
    }
    if (!a.is_number() || !b.is_number()) throw fail();
    const bool integers = a.kind() != Value::Kind::kFloat && b.kind() != Value::Kind::kFloat;
    const int64_t x = a.integer(), y = b.integer();
    const double p = a.number(), q = b.number();
    int64_t r = 0;
    // Python's integers do not overflow; ours say so instead.
    auto checked = [&](bool overflow) {
      if (overflow) throw error(line, "integer overflow in " + op);
      return Value(r);
    };
    if (op == "+") return integers ? checked(__builtin_add_overflow(x, y, &r)) : Value(p + q);
    if (op == "-") return integers ? checked(__builtin_sub_overflow(x, y, &r)) : Value(p - q);
    if (op == "*") return integers ? checked(__builtin_mul_overflow(x, y, &r)) : Value(p * q);
    if (integers && y == -1 && x == INT64_MIN && (op == "//" || op == "%"))
      throw error(line, "integer overflow in " + op);
    if ((op == "/" || op == "//" || op == "%") && q == 0) throw error(line, "division by zero");
    if (op == "/") return Value(p / q);
    if (op == "//") return integers ? Value(x / y - ((x % y != 0) && ((x < 0) != (y < 0)))) : Value(std::floor(p / q));
    if (op == "%") {
      if (!integers) return Value(p - q * std::floor(p / q));
      const int64_t m = x % y;
      return Value(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
    }
    if (op == "**") {
      const double power = std::pow(p, q);
      if (!integers || y < 0) return Value(power);
      if (!(std::fabs(power) < 9.2e18)) throw error(line, "integer overflow in **");
      return Value(int64_t(std::llround(power)));
    }
    throw fail();
  }

  std::vector<Scope> scopes_;
  int64_t steps_ = 0;
  int depth_ = 0;
};

}  // namespace

// Anything else that goes wrong (a number literal past int64, say) is the template's error too.
Template::Template(const std::string& source) try : body_(parse(source)) {
} catch (const TemplateError&) { throw; } catch (const std::exception& e) {
  throw TemplateError(std::string("chat template: ") + e.what());
}

std::string Template::render(const Dict& context) const {
  try {
    Renderer renderer(context);
    std::string out;
    renderer.run(body_, out);
    return out;
  } catch (const TemplateError&) { throw; } catch (const std::exception& e) {
    throw TemplateError(std::string("chat template: ") + e.what());
  }
}

}  // namespace tandem::jinja
