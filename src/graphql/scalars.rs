//! Custom scalars: `Cents`, a signed 64-bit count of minor currency units.

use async_graphql::{InputValueError, InputValueResult, Number, Scalar, ScalarType, Value};

/// Money as a signed 64-bit integer count of minor units (cents) of the platform currency,
/// serialized as a JSON number. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cents(pub i64);

/// Signed 64-bit integer count of minor currency units (cents), serialized as a JSON number.
#[Scalar(name = "Cents")]
impl ScalarType for Cents {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n.as_i64().map(Cents).ok_or_else(|| {
                InputValueError::custom("Cents must be a whole number of minor units")
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Checked during validation, so a wrong variable is a request error rather than a field
    /// error found while resolving.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::Number(n) if n.as_i64().is_some())
    }

    fn to_value(&self) -> Value {
        Value::Number(Number::from(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_take_integers_beyond_32_bits_and_refuse_fractions() {
        let big = 9_000_000_000_i64;
        assert_eq!(
            <Cents as ScalarType>::parse(Value::Number(big.into())).unwrap(),
            Cents(big)
        );
        assert!(
            <Cents as ScalarType>::parse(Value::Number(Number::from_f64(1.5).unwrap())).is_err()
        );
        assert!(<Cents as ScalarType>::parse(Value::String("100".into())).is_err());
        assert_eq!(Cents(big).to_value(), Value::Number(big.into()));
    }
}
