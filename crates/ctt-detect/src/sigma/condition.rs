//! Sigma's condition grammar: search names (with `*` wildcards), `and`,
//! `or`, `not`, parentheses, `1 of X*`, `all of X*`, `1 of them`, `all of
//! them`. `not` binds tighter than `and`, `and` than `or`. Aggregations
//! (`| count() …`) are refused.

use super::RuleError;

/// A parsed condition, its searches resolved to their indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Search(usize),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    /// At least `n` of these searches.
    AtLeast(usize, Vec<usize>),
    /// All of these searches.
    All(Vec<usize>),
}

impl Condition {
    /// Parses `text` against the rule's search names, in their order.
    pub fn parse(text: &str, names: &[String]) -> Result<Condition, RuleError> {
        if text.contains('|') {
            return Err(RuleError::Unsupported(format!(
                "aggregations in the condition (`{text}`)"
            )));
        }
        let tokens = tokenize(text);
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            names,
            text,
        };
        let condition = parser.or()?;
        match parser.tokens.get(parser.at) {
            None => Ok(condition),
            Some(extra) => Err(parser.invalid(&format!("unexpected `{extra}`"))),
        }
    }

    /// Whether it holds, given each search's outcome (asked lazily).
    /// [`Condition::eval`] when some searches cannot be told (`None`), in
    /// Kleene's three-valued logic: `Some` only when the known searches
    /// decide it whatever the others are.
    pub fn eval_partial(&self, search: &mut dyn FnMut(usize) -> Option<bool>) -> Option<bool> {
        // `all` of the outcomes (`any` when `any` is set), Kleene-style.
        fn fold(outcomes: impl Iterator<Item = Option<bool>>, any: bool) -> Option<bool> {
            let mut unknown = false;
            for outcome in outcomes {
                match outcome {
                    Some(decided) if decided == any => return Some(any),
                    Some(_) => {}
                    None => unknown = true,
                }
            }
            (!unknown).then_some(!any)
        }
        match self {
            Condition::Search(i) => search(*i),
            Condition::Not(inner) => inner.eval_partial(search).map(|b| !b),
            Condition::And(parts) => fold(parts.iter().map(|c| c.eval_partial(search)), false),
            Condition::Or(parts) => fold(parts.iter().map(|c| c.eval_partial(search)), true),
            Condition::AtLeast(n, which) => {
                let (mut yes, mut unknown) = (0, 0);
                for &i in which {
                    match search(i) {
                        Some(true) => yes += 1,
                        Some(false) => {}
                        None => unknown += 1,
                    }
                }
                if yes >= *n {
                    Some(true)
                } else if yes + unknown >= *n {
                    None
                } else {
                    Some(false)
                }
            }
            Condition::All(which) => fold(which.iter().map(|&i| search(i)), false),
        }
    }

    pub fn eval(&self, search: &mut dyn FnMut(usize) -> bool) -> bool {
        match self {
            Condition::Search(i) => search(*i),
            Condition::Not(inner) => !inner.eval(search),
            Condition::And(parts) => parts.iter().all(|c| c.eval(search)),
            Condition::Or(parts) => parts.iter().any(|c| c.eval(search)),
            Condition::AtLeast(n, which) => {
                let mut hits = 0;
                for &i in which {
                    if search(i) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                false
            }
            Condition::All(which) => which.iter().all(|&i| search(i)),
        }
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match c {
            '(' | ')' => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
                tokens.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    tokens.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    names: &'a [String],
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn keyword(&self, word: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word))
    }

    fn invalid(&self, why: &str) -> RuleError {
        RuleError::Invalid(format!("condition `{}`: {why}", self.text))
    }

    fn or(&mut self) -> Result<Condition, RuleError> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Condition, RuleError> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::And(parts)
        })
    }

    fn not(&mut self) -> Result<Condition, RuleError> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, RuleError> {
        let Some(token) = self.peek().map(str::to_owned) else {
            return Err(self.invalid("ends too early"));
        };
        self.at += 1;
        if token == "(" {
            let inner = self.or()?;
            if self.peek() != Some(")") {
                return Err(self.invalid("a `(` is not closed"));
            }
            self.at += 1;
            return Ok(inner);
        }
        if self.keyword("of") {
            self.at += 1;
            let Some(target) = self.peek().map(str::to_owned) else {
                return Err(self.invalid(&format!("`{token} of` names nothing")));
            };
            self.at += 1;
            let which = self.selected(&target)?;
            return if token.eq_ignore_ascii_case("all") {
                Ok(Condition::All(which))
            } else {
                match token.parse::<usize>() {
                    Ok(n) if n >= 1 => Ok(Condition::AtLeast(n, which)),
                    _ => Err(self.invalid(&format!("`{token} of`: expected `1 of` or `all of`"))),
                }
            };
        }
        match self.names.iter().position(|n| *n == token) {
            Some(i) => Ok(Condition::Search(i)),
            None => Err(self.invalid(&format!("no search named `{token}`"))),
        }
    }

    /// The searches `them` or a name pattern (`selection_*`) selects.
    fn selected(&self, target: &str) -> Result<Vec<usize>, RuleError> {
        let which: Vec<usize> = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                if target == "them" {
                    !name.starts_with('_')
                } else {
                    wildcard_match(target, name)
                }
            })
            .map(|(i, _)| i)
            .collect();
        if which.is_empty() {
            return Err(self.invalid(&format!("no search matches `{target}`")));
        }
        Ok(which)
    }
}

/// `*` (any run) and `?` (one character) over search names.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}
