#pragma once
// A Jinja expression parser over one tag's tokens (model/jinja/lexer.h), by jinja2's
// precedence: conditional, or, and, not, comparisons, + -, ~, * / // %, **, unary, then
// postfix (attributes, items, slices, calls), filters and tests.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "model/jinja/ast.h"
#include "model/jinja/lexer.h"

namespace tandem::jinja {

using Tokens = std::vector<Token>;

// One tag's expression tokens, read left to right by precedence (as jinja2's parser does).
class ExpressionParser {
 public:
  ExpressionParser(const Tokens& tokens, int line) : tokens_(tokens), line_(line) {}

  bool done() const { return at_ >= tokens_.size(); }
  TemplateError error(const std::string& what) const {
    return TemplateError("chat template line " + std::to_string(line_) + ": " + what);
  }
  bool next_is(const std::string& text) const {
    return !done() && tokens_[at_].kind != Token::Kind::kString && tokens_[at_].text == text;
  }
  bool skip(const std::string& text) {
    if (!next_is(text)) return false;
    ++at_;
    return true;
  }
  void expect(const std::string& text) {
    if (!skip(text))
      throw error("expected '" + text + "'" + (done() ? " at the tag's end" : " before '" + tokens_[at_].text + "'"));
  }
  void expect_end() const {
    if (!done()) throw error("unexpected '" + tokens_[at_].text + "'");
  }
  std::string name() {
    if (done() || tokens_[at_].kind != Token::Kind::kName) throw error("expected a name");
    return tokens_[at_++].text;
  }

  ExprPtr expression(bool with_condition = true) {
    ExprPtr node = or_expr();
    if (with_condition && skip("if")) {
      ExprPtr condition = or_expr();
      ExprPtr otherwise = skip("else") ? expression() : nullptr;
      node = make(Expr::Kind::kCondition, {node, condition, otherwise});
    }
    return node;
  }

  // a, b, c without parentheses (a for loop's targets or a set's tuple).
  ExprPtr tuple_or_expression(bool with_condition) {
    ExprPtr first = expression(with_condition);
    if (!next_is(",")) return first;
    std::vector<ExprPtr> items = {first};
    while (skip(",") && !done() && !next_is("=")) items.push_back(expression(with_condition));
    return make(Expr::Kind::kList, items);
  }

 private:
  ExprPtr make(Expr::Kind kind, std::vector<ExprPtr> args, std::string op = "") const {
    auto e = std::make_shared<Expr>();
    e->kind = kind;
    for (const ExprPtr& a : args)
      if (a) e->depth = std::max(e->depth, a->depth + 1);
    if (e->depth > kMaxDepth) throw error("an expression more than 256 levels deep");
    e->args = std::move(args);
    e->op = std::move(op);
    e->line = line_;
    return e;
  }

  // Counts one level of the parser's own recursion (parentheses, unary operators, not).
  void deeper() {
    if (++nesting_ > kMaxNesting) throw error("expressions nested more than 64 deep");
  }

  ExprPtr binary(ExprPtr left, const std::string& op, ExprPtr right) const {
    return make(Expr::Kind::kBinary, {std::move(left), std::move(right)}, op);
  }

  ExprPtr or_expr() {
    ExprPtr node = and_expr();
    while (skip("or")) node = binary(node, "or", and_expr());
    return node;
  }
  ExprPtr and_expr() {
    ExprPtr node = not_expr();
    while (skip("and")) node = binary(node, "and", not_expr());
    return node;
  }
  ExprPtr not_expr() {
    if (!skip("not")) return compare();
    deeper();
    ExprPtr e = make(Expr::Kind::kUnary, {not_expr()}, "not");
    --nesting_;
    return e;
  }
  ExprPtr compare() {
    ExprPtr node = math1();
    while (true) {
      static const std::set<std::string> kOps = {"==", "!=", "<", "<=", ">", ">=", "in"};
      if (!done() && tokens_[at_].kind != Token::Kind::kString && kOps.count(tokens_[at_].text)) {
        const std::string op = tokens_[at_++].text;
        node = binary(node, op, math1());
      } else if (next_is("not") && at_ + 1 < tokens_.size() && tokens_[at_ + 1].text == "in") {
        at_ += 2;
        node = binary(node, "not in", math1());
      } else {
        return node;
      }
    }
  }
  ExprPtr math1() {
    ExprPtr node = concat();
    while (next_is("+") || next_is("-")) {
      const std::string op = tokens_[at_++].text;
      node = binary(node, op, concat());
    }
    return node;
  }
  ExprPtr concat() {
    ExprPtr node = math2();
    while (skip("~")) node = binary(node, "~", math2());
    return node;
  }
  ExprPtr math2() {
    ExprPtr node = power();
    while (next_is("*") || next_is("/") || next_is("//") || next_is("%")) {
      const std::string op = tokens_[at_++].text;
      node = binary(node, op, power());
    }
    return node;
  }
  ExprPtr power() {
    ExprPtr node = unary(true);
    while (skip("**")) node = binary(node, "**", unary(true));
    return node;
  }
  ExprPtr unary(bool with_filter) {
    ExprPtr node;
    if (next_is("-") || next_is("+")) {
      const std::string op = tokens_[at_++].text;
      deeper();
      node = make(Expr::Kind::kUnary, {unary(false)}, op);
      --nesting_;
    } else {
      node = primary();
    }
    node = postfix(node);
    return with_filter ? filters_and_tests(node) : node;
  }

  ExprPtr primary() {
    if (done()) throw error("an expression is missing");
    deeper();
    ExprPtr e = primary_inner();
    --nesting_;
    return e;
  }

  ExprPtr primary_inner() {
    const Token& t = tokens_[at_++];
    auto literal = [&](Value v) {
      auto e = std::make_shared<Expr>();
      e->kind = Expr::Kind::kLiteral;
      e->value = std::move(v);
      e->line = line_;
      return e;
    };
    switch (t.kind) {
      case Token::Kind::kString: {
        std::string s = t.text;
        while (!done() && tokens_[at_].kind == Token::Kind::kString) s += tokens_[at_++].text;  // 'a' 'b'
        return literal(Value(std::move(s)));
      }
      case Token::Kind::kInteger: return literal(Value(int64_t(std::stoll(t.text))));
      case Token::Kind::kFloat: return literal(Value(std::stod(t.text)));
      case Token::Kind::kName: {
        if (t.text == "true" || t.text == "True") return literal(Value(true));
        if (t.text == "false" || t.text == "False") return literal(Value(false));
        if (t.text == "none" || t.text == "None") return literal(Value::none());
        auto e = std::make_shared<Expr>();
        e->kind = Expr::Kind::kName;
        e->name = t.text;
        e->line = line_;
        return e;
      }
      case Token::Kind::kOperator: break;
    }
    if (t.text == "(") {
      if (skip(")")) return make(Expr::Kind::kList, {});
      ExprPtr inner = expression();
      if (!next_is(",")) {
        expect(")");
        return inner;
      }
      std::vector<ExprPtr> items = {inner};
      while (skip(",") && !next_is(")")) items.push_back(expression());
      expect(")");
      return make(Expr::Kind::kList, items);
    }
    if (t.text == "[") {
      std::vector<ExprPtr> items;
      while (!skip("]")) {
        if (!items.empty()) expect(",");
        if (skip("]")) break;
        items.push_back(expression());
      }
      return make(Expr::Kind::kList, items);
    }
    if (t.text == "{") {
      std::vector<ExprPtr> pairs;
      while (!skip("}")) {
        if (!pairs.empty()) expect(",");
        if (skip("}")) break;
        pairs.push_back(expression());
        expect(":");
        pairs.push_back(expression());
      }
      return make(Expr::Kind::kDict, pairs);
    }
    throw error("unexpected '" + t.text + "'");
  }

  ExprPtr postfix(ExprPtr node) {
    while (true) {
      if (skip(".")) {
        if (!done() && tokens_[at_].kind == Token::Kind::kInteger) {  // x.0 is x[0]
          auto index = std::make_shared<Expr>();
          index->kind = Expr::Kind::kLiteral;
          index->value = Value(int64_t(std::stoll(tokens_[at_++].text)));
          node = make(Expr::Kind::kItem, {node, index});
          continue;
        }
        auto e = std::make_shared<Expr>(*make(Expr::Kind::kAttribute, {node}));
        e->name = name();
        node = e;
      } else if (skip("[")) {
        node = subscript(node);
      } else if (next_is("(")) {
        node = call(node);
      } else {
        return node;
      }
    }
  }

  ExprPtr subscript(ExprPtr target) {
    std::vector<ExprPtr> bounds = {target};
    bool slice = false;
    for (int part = 0; part < 3; ++part) {
      if (next_is(":") || next_is("]"))
        bounds.push_back(nullptr);
      else
        bounds.push_back(expression());
      if (!skip(":")) break;
      slice = true;
    }
    expect("]");
    if (!slice && !bounds[1]) throw error("an empty subscript []");
    if (!slice) return make(Expr::Kind::kItem, {target, bounds[1]});
    bounds.resize(4);
    return make(Expr::Kind::kSlice, bounds);
  }

  // (args, key=value) after a callee, filter or test: appended to e's args and keywords.
  void arguments(Expr& e) {
    expect("(");
    for (bool first = true; !skip(")"); first = false) {
      if (!first) {
        expect(",");
        if (skip(")")) break;
      }
      if (!done() && tokens_[at_].kind == Token::Kind::kName && at_ + 1 < tokens_.size() &&
          tokens_[at_ + 1].text == "=" && tokens_[at_ + 1].kind == Token::Kind::kOperator) {
        const std::string key = name();
        expect("=");
        e.keywords.emplace_back(key, expression());
      } else {
        if (!e.keywords.empty()) throw error("a positional argument after a keyword one");
        e.args.push_back(expression());
      }
    }
  }

  ExprPtr call(ExprPtr callee) {
    auto e = std::make_shared<Expr>(*make(Expr::Kind::kCall, {callee}));
    arguments(*e);
    return e;
  }

  ExprPtr filters_and_tests(ExprPtr node) {
    while (true) {
      if (skip("|")) {
        auto e = std::make_shared<Expr>(*make(Expr::Kind::kFilter, {node}));
        e->name = name();
        if (next_is("(")) arguments(*e);
        node = e;
      } else if (skip("is")) {
        auto e = std::make_shared<Expr>(*make(Expr::Kind::kTest, {node}, skip("not") ? "not" : ""));
        e->name = name();
        static const std::set<std::string> kEnds = {"and", "or", "else", "if", "is", "in", "not"};
        if (next_is("(")) {
          arguments(*e);
        } else if (!done() &&
                   !(tokens_[at_].kind == Token::Kind::kOperator && tokens_[at_].text != "[" &&
                     tokens_[at_].text != "{" && tokens_[at_].text != "-") &&
                   !(tokens_[at_].kind == Token::Kind::kName && kEnds.count(tokens_[at_].text))) {
          e->args.push_back(postfix(primary()));  // `x is divisibleby 3`
        }
        node = e;
      } else if (next_is("(")) {
        node = call(node);
      } else {
        return node;
      }
    }
  }

  static constexpr int kMaxNesting = 64;  // parentheses, lists, unary operators inside one another
  static constexpr int kMaxDepth = 256;   // an expression's tree, however it was written
  const Tokens& tokens_;
  size_t at_ = 0;
  int line_;
  int nesting_ = 0;
};

}  // namespace tandem::jinja
