#include "model/jinja/parser.h"

#include <set>

#include "model/jinja/expression_parser.h"
#include "model/jinja/lexer.h"

namespace tandem::jinja {
namespace {

// The statements of a template, as nested bodies.
class StatementParser {
 public:
  explicit StatementParser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  Body parse_all() {
    std::string end;
    Body body = parse_body({}, end);
    return body;
  }

 private:
  static std::shared_ptr<Node> make(Node::Kind kind, int line) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->line = line;
    return n;
  }

  // Nodes up to one of `ends` (a statement whose first word is one of them, left unread
  // but for that word; its parser is returned in `end`'s place).
  Body parse_body(const std::set<std::string>& ends, std::string& end) {
    Body body;
    while (at_ < pieces_.size()) {
      const Piece& piece = pieces_[at_];
      if (piece.kind == Piece::Kind::kText) {
        auto n = make(Node::Kind::kText, piece.line);
        n->text = piece.text;
        body.push_back(n);
        ++at_;
        continue;
      }
      ExpressionParser p(piece.tokens, piece.line);
      if (piece.kind == Piece::Kind::kOutput) {
        auto n = make(Node::Kind::kOutput, piece.line);
        n->expr = p.expression();
        p.expect_end();
        body.push_back(n);
        ++at_;
        continue;
      }
      const std::string word = p.name();
      if (ends.count(word)) {
        end = word;
        return body;
      }
      ++at_;
      statement(word, p, piece.line, body);
    }
    if (!ends.empty()) {
      std::string names;
      for (const std::string& e : ends) names += (names.empty() ? "" : " or ") + e;
      throw TemplateError("chat template: the template ends where {% " + names + " %} was expected");
    }
    return body;
  }

  // The statement after its first word: appended to body.
  void statement(const std::string& word, ExpressionParser& p, int line, Body& body) {
    if (++nesting_ > kMaxNesting) throw p.error("statements nested more than 128 deep");
    statement_inner(word, p, line, body);
    --nesting_;
  }

  void statement_inner(const std::string& word, ExpressionParser& p, int line, Body& body) {
    std::string end;
    if (word == "if") {
      auto n = make(Node::Kind::kIf, line);
      ExprPtr condition = p.expression();
      p.expect_end();
      while (true) {
        Body branch = parse_body({"elif", "else", "endif"}, end);
        n->branches.emplace_back(condition, std::move(branch));
        ExpressionParser q = tail();
        if (end == "endif") break;
        if (end == "else") {
          q.expect_end();
          n->branches.emplace_back(nullptr, parse_body({"endif"}, end));
          tail().expect_end();
          break;
        }
        condition = q.expression();
        q.expect_end();
      }
      body.push_back(n);
    } else if (word == "for") {
      auto n = make(Node::Kind::kFor, line);
      do n->targets.push_back(p.name());
      while (p.skip(","));
      p.expect("in");
      n->expr = p.expression(false);
      if (p.skip("if")) n->filter = p.expression();
      p.expect_end();
      n->body = parse_body({"else", "endfor"}, end);
      tail().expect_end();
      if (end == "else") {
        n->else_body = parse_body({"endfor"}, end);
        tail().expect_end();
      }
      body.push_back(n);
    } else if (word == "set") {
      auto n = make(Node::Kind::kSet, line);
      n->targets.push_back(p.name());
      if (p.skip(".")) n->attribute = p.name();
      while (n->attribute.empty() && p.skip(",")) n->targets.push_back(p.name());
      if (p.skip("=")) {
        n->expr = p.tuple_or_expression(true);
        p.expect_end();
      } else {
        p.expect_end();
        n->body = parse_body({"endset"}, end);
        tail().expect_end();
      }
      body.push_back(n);
    } else if (word == "macro") {
      auto n = make(Node::Kind::kMacro, line);
      n->targets.push_back(p.name());
      p.expect("(");
      while (!p.skip(")")) {
        if (n->targets.size() > 1) p.expect(",");
        n->targets.push_back(p.name());
        n->defaults.push_back(p.skip("=") ? p.expression() : nullptr);
      }
      p.expect_end();
      n->body = parse_body({"endmacro"}, end);
      tail().expect_end();
      body.push_back(n);
    } else if (word == "filter") {
      auto n = make(Node::Kind::kFilter, line);
      n->targets.push_back(p.name());
      n->body = parse_body({"endfilter"}, end);
      tail().expect_end();
      body.push_back(n);
    } else if (word == "break" || word == "continue") {
      p.expect_end();
      body.push_back(make(word == "break" ? Node::Kind::kBreak : Node::Kind::kContinue, line));
    } else if (word == "generation") {  // HF's marker of the assistant's tokens: renders as its body
      p.expect_end();
      for (auto& n : parse_body({"endgeneration"}, end)) body.push_back(n);
      tail().expect_end();
    } else {
      throw p.error("the statement {% " + word + " %} is not supported");
    }
  }

  // The end statement parse_body stopped at, past its first word.
  ExpressionParser tail() {
    const Piece& piece = pieces_[at_++];
    ExpressionParser p(piece.tokens, piece.line);
    p.name();
    return p;
  }

  static constexpr int kMaxNesting = 128;  // blocks inside blocks
  std::vector<Piece> pieces_;
  size_t at_ = 0;
  int nesting_ = 0;
};

}  // namespace

Body parse(const std::string& source) { return StatementParser(lex(source)).parse_all(); }

}  // namespace tandem::jinja
