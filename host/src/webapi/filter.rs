//! `$filter`: the OData subset clients send, read into the query engine's [`FilterExpression`]: comparisons
//! (`eq`, `ne`, `gt`, `ge`, `lt`, `le`) of a column with a literal, `and`, `or`, `not`, parentheses,
//! `contains`, `startswith` and `endswith`, and `null`. Literals: strings in single quotes (`''` for a quote),
//! numbers, GUIDs, dates, `true` and `false`. Values other than booleans go to the engine as text, which types
//! them by their column (as it types FetchXML's).

use xrm_model::{ConditionExpression, ConditionOperator as Op, FilterExpression, LogicalOperator, Value};

use super::errors::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    /// `[`, `]` and `=`: the list and named arguments of the platform's query functions.
    OpenList,
    CloseList,
    Equals,
    Text(String),
    /// A word: a name, a keyword, or an unquoted literal (number, GUID, date).
    Word(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, ApiError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '[' | ']' | '=' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenList,
                    ']' => Token::CloseList,
                    '=' => Token::Equals,
                    _ => Token::Comma,
                });
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) if chars.peek().is_some_and(|&(_, c)| c == '\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some((_, '\'')) => break,
                        Some((_, c)) => s.push(c),
                        None => return Err(bad(format!("the string starting at position {at} is not closed"))),
                    }
                }
                out.push(Token::Text(s));
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',' | '\'' | '[' | ']' | '=') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

fn bad(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid $filter: {why}"))
}

/// A filter before `not` is pushed down to the conditions.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Condition(ConditionExpression),
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

/// A literal of the filter.
enum Literal {
    Null,
    Value(Value),
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), ApiError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            Some(t) => Err(bad(format!("expected {what}, found {}", describe(&t)))),
            None => Err(bad(format!("expected {what}, found the end of the filter"))),
        }
    }

    fn or(&mut self) -> Result<Node, ApiError> {
        let mut terms = vec![self.and()?];
        while self.keyword("or") {
            self.next();
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Node::Any(terms) })
    }

    fn and(&mut self) -> Result<Node, ApiError> {
        let mut terms = vec![self.unary()?];
        while self.keyword("and") {
            self.next();
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Node::All(terms) })
    }

    fn unary(&mut self) -> Result<Node, ApiError> {
        if self.keyword("not") {
            self.next();
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                self.expect(Token::Close, "')'")?;
                Ok(inner)
            }
            Some(Token::Word(word)) if matches!(self.peek(), Some(Token::Open)) => self.function(&word),
            Some(Token::Word(name)) => self.comparison(&name),
            Some(t) => Err(bad(format!("expected a column, a function or '(', found {}", describe(&t)))),
            None => Err(bad("the filter ends where a condition was expected")),
        }
    }

    /// `contains(name,'x')`, `startswith(…)`, `endswith(…)`, and the platform's query functions.
    fn function(&mut self, name: &str) -> Result<Node, ApiError> {
        if let Some(operator) = name.strip_prefix("Microsoft.Dynamics.CRM.") {
            return self.query_function(name, operator);
        }
        let op = match name {
            "contains" => Op::Like,
            "startswith" => Op::BeginsWith,
            "endswith" => Op::EndsWith,
            other => {
                return Err(bad(format!(
                    "the function '{other}' is not supported (contains, startswith and endswith are)"
                )));
            }
        };
        self.expect(Token::Open, "'('")?;
        let column = match self.next() {
            Some(Token::Word(w)) => column_name(&w)?,
            Some(t) => return Err(bad(format!("{name} takes a column first, found {}", describe(&t)))),
            None => return Err(bad(format!("{name}( is not closed"))),
        };
        self.expect(Token::Comma, "','")?;
        let text = match self.next() {
            Some(Token::Text(s)) => s,
            Some(t) => return Err(bad(format!("{name} takes a string second, found {}", describe(&t)))),
            None => return Err(bad(format!("{name}( is not closed"))),
        };
        self.expect(Token::Close, "')'")?;
        let text = if op == Op::Like { format!("%{}%", escape_like(&text)) } else { text };
        Ok(Node::Condition(condition(column, op, vec![Value::Text(text)])))
    }

    /// `Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)`: a condition with the
    /// operator of that name (`In`, `Between`, `Today`, `Under`, `ContainValues`, …: the platform's condition
    /// operators), on the column `PropertyName`, with the value `PropertyValue` or the values
    /// `PropertyValues=[…]`.
    fn query_function(&mut self, name: &str, operator: &str) -> Result<Node, ApiError> {
        let op = Op::parse(operator)
            .filter(|_| operator.starts_with(|c: char| c.is_ascii_uppercase()))
            .ok_or_else(|| bad(format!("'{name}' is not one of the platform's query functions")))?;
        self.expect(Token::Open, "'('")?;
        let (mut column, mut values) = (None, Vec::new());
        loop {
            let argument = match self.next() {
                Some(Token::Close) if column.is_none() && values.is_empty() => break,
                Some(Token::Word(w)) => w,
                Some(t) => return Err(bad(format!("expected an argument of {name}, found {}", describe(&t)))),
                None => return Err(bad(format!("{name}( is not closed"))),
            };
            self.expect(Token::Equals, &format!("'=' after {argument}"))?;
            match argument.as_str() {
                "PropertyName" => match self.next() {
                    Some(Token::Text(text)) => column = Some(column_name(&text)?),
                    _ => return Err(bad(format!("{name}: PropertyName takes a column name in quotes"))),
                },
                "PropertyValue" => values.push(self.value(name)?),
                "PropertyValues" => {
                    self.expect(Token::OpenList, &format!("'[' after {name}'s PropertyValues="))?;
                    loop {
                        values.push(self.value(name)?);
                        match self.next() {
                            Some(Token::Comma) => {}
                            Some(Token::CloseList) => break,
                            _ => return Err(bad(format!("{name}: PropertyValues=[…] is not closed"))),
                        }
                    }
                }
                other => {
                    return Err(bad(format!(
                        "{name} takes PropertyName, PropertyValue or PropertyValues, not '{other}'"
                    )));
                }
            }
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => break,
                _ => return Err(bad(format!("{name}( is not closed"))),
            }
        }
        let column = column.ok_or_else(|| bad(format!("{name} needs PropertyName='column'")))?;
        Ok(Node::Condition(condition(column, op, values)))
    }

    /// One literal value (not null) of a query function.
    fn value(&mut self, name: &str) -> Result<Value, ApiError> {
        match self.next() {
            Some(Token::Text(s)) => Ok(Value::Text(s)),
            Some(Token::Word(w)) => match literal(&w)? {
                Literal::Value(v) => Ok(v),
                Literal::Null => Err(bad(format!("{name} takes no null value"))),
            },
            Some(t) => Err(bad(format!("expected a value in {name}, found {}", describe(&t)))),
            None => Err(bad(format!("{name}( is not closed"))),
        }
    }

    /// `column op literal`.
    fn comparison(&mut self, name: &str) -> Result<Node, ApiError> {
        let column = column_name(name)?;
        let op = match self.next() {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => Op::Equal,
                "ne" => Op::NotEqual,
                "gt" => Op::GreaterThan,
                "ge" => Op::GreaterEqual,
                "lt" => Op::LessThan,
                "le" => Op::LessEqual,
                other => {
                    return Err(bad(format!(
                        "'{other}' after '{name}' is not a comparison operator (eq, ne, gt, ge, lt, le)"
                    )));
                }
            },
            Some(t) => return Err(bad(format!("expected an operator after '{name}', found {}", describe(&t)))),
            None => return Err(bad(format!("'{name}' is not compared with anything"))),
        };
        let literal = match self.next() {
            Some(Token::Text(s)) => Literal::Value(Value::Text(s)),
            Some(Token::Word(w)) => literal(&w)?,
            Some(t) => return Err(bad(format!("expected a value after '{name}', found {}", describe(&t)))),
            None => return Err(bad(format!("the comparison of '{name}' has no value"))),
        };
        Ok(Node::Condition(match (op, literal) {
            (Op::Equal, Literal::Null) => condition(column, Op::Null, Vec::new()),
            (Op::NotEqual, Literal::Null) => condition(column, Op::NotNull, Vec::new()),
            (_, Literal::Null) => return Err(bad(format!("'{name}' can only be compared with null by eq or ne"))),
            (op, Literal::Value(v)) => condition(column, op, vec![v]),
        }))
    }
}

fn describe(t: &Token) -> String {
    match t {
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Comma => "','".into(),
        Token::OpenList => "'['".into(),
        Token::CloseList => "']'".into(),
        Token::Equals => "'='".into(),
        Token::Text(s) => format!("the string '{s}'"),
        Token::Word(w) => format!("'{w}'"),
    }
}

/// An unquoted literal: `null`, `true`, `false`, a number, a GUID or a date (kept as text for the engine).
fn literal(word: &str) -> Result<Literal, ApiError> {
    Ok(match word {
        "null" => Literal::Null,
        "true" => Literal::Value(Value::Boolean(true)),
        "false" => Literal::Value(Value::Boolean(false)),
        w if w.parse::<f64>().is_ok_and(f64::is_finite) && !w.contains(['e', 'E', 'i', 'I', 'n', 'N']) => {
            Literal::Value(Value::Text(w.to_owned()))
        }
        w if xrm_model::Uuid::try_parse(w).is_ok() => Literal::Value(Value::Text(w.to_owned())),
        w if w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('-') => {
            Literal::Value(Value::Text(w.to_owned()))
        }
        w => return Err(bad(format!("'{w}' is not a value (strings are quoted: '{w}')"))),
    })
}

/// The column a property names: `_parentcustomerid_value` is the lookup `parentcustomerid`.
pub fn column_name(property: &str) -> Result<String, ApiError> {
    let name = property.strip_prefix('_').and_then(|p| p.strip_suffix("_value")).unwrap_or(property);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(bad(format!("'{property}' is not a column name")));
    }
    Ok(name.to_ascii_lowercase())
}

/// Text matched literally inside a `like` pattern: `%`, `_` and `[` in brackets.
fn escape_like(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '%' | '_' | '[' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect()
}

fn condition(column: String, operator: Op, values: Vec<Value>) -> ConditionExpression {
    ConditionExpression { entity_name: None, attribute_name: column, operator, values }
}

/// `not` moved onto the conditions (De Morgan), each condition's operator negated; an operator without an
/// opposite (`Today`, `LastXDays`, …) cannot be negated.
fn push_not(node: Node, negate: bool) -> Result<Node, ApiError> {
    Ok(match node {
        Node::Not(inner) => push_not(*inner, !negate)?,
        Node::Condition(c) if negate => {
            let operator = negated(c.operator)
                .ok_or_else(|| bad(format!("'not' cannot be applied to the operator '{}'", c.operator.fetch_name())))?;
            Node::Condition(ConditionExpression { operator, ..c })
        }
        Node::Condition(c) => Node::Condition(c),
        Node::All(terms) => {
            let terms = terms.into_iter().map(|t| push_not(t, negate)).collect::<Result<_, _>>()?;
            if negate { Node::Any(terms) } else { Node::All(terms) }
        }
        Node::Any(terms) => {
            let terms = terms.into_iter().map(|t| push_not(t, negate)).collect::<Result<_, _>>()?;
            if negate { Node::All(terms) } else { Node::Any(terms) }
        }
    })
}

/// The operator with the opposite result, where the engine has one.
fn negated(op: Op) -> Option<Op> {
    let pairs = [
        (Op::Equal, Op::NotEqual),
        (Op::GreaterThan, Op::LessEqual),
        (Op::LessThan, Op::GreaterEqual),
        (Op::Null, Op::NotNull),
        (Op::Like, Op::NotLike),
        (Op::BeginsWith, Op::NotBeginWith),
        (Op::EndsWith, Op::NotEndWith),
        (Op::In, Op::NotIn),
        (Op::Between, Op::NotBetween),
        (Op::EqualUserId, Op::NotEqualUserId),
        (Op::EqualBusinessId, Op::NotEqualBusinessId),
        (Op::Under, Op::NotUnder),
        (Op::ContainValues, Op::NotContainValues),
    ];
    pairs.iter().find_map(|&(a, b)| match op {
        o if o == a => Some(b),
        o if o == b => Some(a),
        _ => None,
    })
}

fn to_filter(node: Node) -> FilterExpression {
    let (operator, terms) = match node {
        Node::All(terms) => (LogicalOperator::And, terms),
        Node::Any(terms) => (LogicalOperator::Or, terms),
        single => (LogicalOperator::And, vec![single]),
    };
    let mut filter = FilterExpression { filter_operator: operator, ..FilterExpression::default() };
    for term in terms {
        match term {
            Node::Condition(c) => filter.conditions.push(c),
            other => filter.filters.push(to_filter(other)),
        }
    }
    filter
}

/// Reads a `$filter` into the criteria of a QueryExpression.
pub fn parse(text: &str) -> Result<FilterExpression, ApiError> {
    let mut parser = Parser { tokens: tokens(text)?, at: 0 };
    if parser.tokens.is_empty() {
        return Err(bad("the filter is empty"));
    }
    let node = parser.or()?;
    if let Some(t) = parser.peek() {
        return Err(bad(format!(
            "unexpected {} after a complete condition (join conditions with and / or)",
            describe(t)
        )));
    }
    Ok(to_filter(push_not(node, false)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(column: &str, operator: Op, values: &[Value]) -> ConditionExpression {
        condition(column.into(), operator, values.to_vec())
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn comparisons_read_as_conditions_with_typed_literals() {
        let f = parse("name eq 'O''Neil' and revenue ge 1000.5 and _ownerid_value ne 6f1a2b3c-0000-4000-8000-000000000001 and donotemail eq false").unwrap();
        assert_eq!(f.filter_operator, LogicalOperator::And);
        assert_eq!(
            f.conditions,
            [
                cond("name", Op::Equal, &[text("O'Neil")]),
                cond("revenue", Op::GreaterEqual, &[text("1000.5")]),
                cond("ownerid", Op::NotEqual, &[text("6f1a2b3c-0000-4000-8000-000000000001")]),
                cond("donotemail", Op::Equal, &[Value::Boolean(false)]),
            ]
        );
        let f = parse("createdon lt 2026-01-01T00:00:00Z and numberofemployees gt -3").unwrap();
        assert_eq!(f.conditions[0], cond("createdon", Op::LessThan, &[text("2026-01-01T00:00:00Z")]));
        assert_eq!(f.conditions[1], cond("numberofemployees", Op::GreaterThan, &[text("-3")]));
    }

    #[test]
    fn null_comparisons_are_null_conditions() {
        assert_eq!(parse("telephone1 eq null").unwrap().conditions, [cond("telephone1", Op::Null, &[])]);
        assert_eq!(parse("telephone1 ne null").unwrap().conditions, [cond("telephone1", Op::NotNull, &[])]);
        assert!(parse("telephone1 gt null").is_err());
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let f = parse("a eq 1 or b eq 2 and c eq 3").unwrap();
        assert_eq!(f.filter_operator, LogicalOperator::Or);
        assert_eq!(f.conditions, [cond("a", Op::Equal, &[text("1")])]);
        assert_eq!(f.filters.len(), 1);
        assert_eq!(f.filters[0].filter_operator, LogicalOperator::And);
        assert_eq!(f.filters[0].conditions.len(), 2);

        let f = parse("(a eq 1 or b eq 2) and c eq 3").unwrap();
        assert_eq!(f.filter_operator, LogicalOperator::And);
        assert_eq!(f.conditions, [cond("c", Op::Equal, &[text("3")])]);
        assert_eq!(f.filters[0].filter_operator, LogicalOperator::Or);
    }

    #[test]
    fn not_is_pushed_onto_the_conditions() {
        let f = parse("not (a eq 1 and startswith(name,'Con'))").unwrap();
        assert_eq!(f.filter_operator, LogicalOperator::Or);
        assert_eq!(
            f.conditions,
            [cond("a", Op::NotEqual, &[text("1")]), cond("name", Op::NotBeginWith, &[text("Con")])]
        );
        assert_eq!(parse("not not a lt 2").unwrap().conditions, [cond("a", Op::LessThan, &[text("2")])]);
        assert_eq!(parse("not a lt 2").unwrap().conditions, [cond("a", Op::GreaterEqual, &[text("2")])]);
    }

    #[test]
    fn string_functions_match_text_literally() {
        assert_eq!(
            parse("contains(name,'50%_[x]')").unwrap().conditions,
            [cond("name", Op::Like, &[text("%50[%][_][[]x]%")])]
        );
        assert_eq!(parse("endswith(name, 'Ltd')").unwrap().conditions, [cond("name", Op::EndsWith, &[text("Ltd")])]);
    }

    #[test]
    fn the_platforms_query_functions_are_conditions_with_their_operators() {
        let f = parse("Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7) and Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a','b'])").unwrap();
        assert_eq!(
            f.conditions,
            [cond("createdon", Op::LastXDays, &[text("7")]), cond("name", Op::In, &[text("a"), text("b")])]
        );
        let f = parse("Microsoft.Dynamics.CRM.Today(PropertyName='createdon')").unwrap();
        assert_eq!(f.conditions, [cond("createdon", Op::Today, &[])]);
        let f = parse("Microsoft.Dynamics.CRM.EqualUserId(PropertyName='_ownerid_value')").unwrap();
        assert_eq!(f.conditions, [cond("ownerid", Op::EqualUserId, &[])]);
        let f =
            parse("not Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[1,5])").unwrap();
        assert_eq!(f.conditions, [cond("numberofemployees", Op::NotBetween, &[text("1"), text("5")])]);
        for (filter, says) in [
            ("Microsoft.Dynamics.CRM.Sometimes(PropertyName='x')", "'Microsoft.Dynamics.CRM.Sometimes'"),
            ("Microsoft.Dynamics.CRM.Today(PropertyValue=1)", "PropertyName"),
            ("Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a'", "not closed"),
            ("Microsoft.Dynamics.CRM.Today(Name='x')", "'Name'"),
            (
                "not Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
                "'not' cannot be applied to the operator 'today'",
            ),
        ] {
            let e = parse(filter).unwrap_err();
            assert!(e.message.contains(says), "{filter}: {}", e.message);
        }
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        for (filter, says) in [
            ("", "empty"),
            ("name eq 'x", "not closed"),
            ("name equals 'x'", "'equals'"),
            ("name eq", "no value"),
            ("name eq x", "'x' is not a value"),
            ("(name eq 'x'", "')'"),
            ("name eq 'x' 'y'", "unexpected"),
            ("substringof('x',name)", "'substringof'"),
            ("name eq 'x' and", "ends"),
        ] {
            let e = parse(filter).unwrap_err();
            assert_eq!(e.status, hyper::StatusCode::BAD_REQUEST, "{filter}");
            assert!(e.message.contains(says), "{filter}: {}", e.message);
        }
    }
}
