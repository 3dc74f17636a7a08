#pragma once
// A parsed Jinja template: expressions and the statements that hold them.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/jinja/value.h"

namespace tandem::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind {
    kLiteral,    // value
    kName,       // name
    kList,       // [args...] (tuples too)
    kDict,       // {keys[i]: args[i]}: keys as expressions in args, pairs flattened
    kAttribute,  // args[0].name
    kItem,       // args[0][args[1]]
    kSlice,      // args[0][args[1]:args[2]:args[3]], a missing bound a null pointer
    kCall,       // args[0](args[1:], keywords)
    kFilter,     // args[0] | name(args[1:], keywords)
    kTest,       // args[0] is [not: op == "not"] name(args[1:])
    kUnary,      // op args[0]: "-", "+", "not"
    kBinary,     // args[0] op args[1]: arithmetic, ~, comparisons, in, not in, and, or
    kCondition,  // args[0] if args[1] else args[2] (args[2] may be null: undefined)
  };
  Kind kind;
  Value value;
  std::string name;
  std::string op;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  int line = 0;
  int depth = 1;  // levels of expressions below and including this one (evaluation recurses that deep)
};

struct Node;
using Body = std::vector<std::shared_ptr<const Node>>;

struct Node {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // branches (condition, body); the last condition may be null (else)
    kFor,       // {% for targets in expr [if filter] %} body {% else %} else_body
    kSet,       // {% set targets = expr %}, or {% set target.attribute = expr %}, or {% set x %}body
    kMacro,     // {% macro name(params) %} body: params' defaults in defaults (null: none)
    kBreak,     // {% break %} (loop controls, as HF enables them)
    kContinue,  // {% continue %}
    kFilter,    // {% filter name(args) %} body {% endfilter %}: expr is the filter with args[0] unset
  };
  Kind kind;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  std::vector<std::string> targets;
  std::string attribute;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<ExprPtr> defaults;
  int line = 0;
};

}  // namespace tandem::jinja
