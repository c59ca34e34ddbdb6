//! Formatting a finite `f64` exactly as Go's `encoding/json` does.
//!
//! Go writes the shortest decimal digits that read back as the same double. Values whose
//! magnitude is in `[1e-6, 1e21)` (and zero) are written in plain decimal notation without an
//! exponent and without a trailing `.0` (`0`, `200`, `0.5`, `100000000000000000000`); values
//! outside that range use an exponent: one digit, an optional fraction, `e`, a sign and the
//! exponent without leading zeros (`1e+21`, `1.5e-7`, `5e-324`). Negative zero is `-0`.

/// Doubles below this magnitude are integers exactly when they have no fractional part, and their
/// shortest decimal form is the integer itself.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

/// Appends `value` (which must be finite) to `out` the way Go's `encoding/json` formats a float64.
pub(crate) fn write_go_float(value: f64, out: &mut Vec<u8>) {
    debug_assert!(value.is_finite(), "callers reject NaN and infinities");
    let magnitude = value.abs();
    if magnitude < EXACT_INTEGER_LIMIT && value.fract() == 0.0 {
        if value == 0.0 && value.is_sign_negative() {
            out.extend_from_slice(b"-0");
        } else {
            // Exact: |value| < 2^53 fits an i64 without rounding.
            #[allow(clippy::cast_possible_truncation)]
            let integer = value as i64;
            out.extend_from_slice(itoa::Buffer::new().format(integer).as_bytes());
        }
        return;
    }

    let mut ryu_buffer = ryu::Buffer::new();
    let digits = ShortestDigits::of(ryu_buffer.format_finite(magnitude));
    if value.is_sign_negative() {
        out.push(b'-');
    }
    if !(1e-6..1e21).contains(&magnitude) {
        digits.write_exponent(out);
    } else {
        digits.write_plain(out);
    }
}

/// The shortest significant digits of a positive double and where its decimal point goes.
struct ShortestDigits {
    /// ASCII digits, no leading or trailing zeros (at least one digit).
    digits: [u8; 24],
    len: usize,
    /// The value is `0.DIGITS * 10^point`, i.e. the decimal point sits after `point` digits
    /// (before the first digit when zero, with `-point` zeros in between when negative).
    point: i32,
}

impl ShortestDigits {
    /// Reads ryu's output (`"123.45"`, `"1e16"`, `"1.5e-7"`, `"0.001"`) into digits and a point.
    fn of(text: &str) -> Self {
        let mut digits = [0u8; 24];
        let mut len = 0usize;
        let mut integer_digits: Option<usize> = None;
        let mut exponent: i32 = 0;
        let mut bytes = text.bytes();
        while let Some(byte) = bytes.next() {
            match byte {
                b'0'..=b'9' if len < digits.len() => {
                    digits[len] = byte;
                    len += 1;
                }
                b'.' => integer_digits = Some(len),
                b'e' | b'E' => exponent = parse_exponent(bytes.by_ref()),
                _ => {}
            }
        }
        let integer_digits = integer_digits.unwrap_or(len);
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        let mut point = integer_digits as i32 + exponent;

        // Drop leading zeros ("0.001" -> "1" with the point moved left) and trailing zeros.
        let mut start = 0;
        while start + 1 < len && digits[start] == b'0' {
            start += 1;
            point -= 1;
        }
        while len > start + 1 && digits[len - 1] == b'0' {
            len -= 1;
        }
        digits.copy_within(start..len, 0);
        Self {
            digits,
            len: len - start,
            point,
        }
    }

    fn significant(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    /// `123.45`, `0.000001`, `100000000000000000000`.
    fn write_plain(&self, out: &mut Vec<u8>) {
        let digits = self.significant();
        let point = self.point;
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
            out.extend_from_slice(digits);
        } else {
            let point = point.unsigned_abs() as usize;
            if point >= digits.len() {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', point - digits.len()));
            } else {
                out.extend_from_slice(&digits[..point]);
                out.push(b'.');
                out.extend_from_slice(&digits[point..]);
            }
        }
    }

    /// `1e+21`, `1.5e-7`, `1.7976931348623157e+308`.
    fn write_exponent(&self, out: &mut Vec<u8>) {
        let digits = self.significant();
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let exponent = self.point - 1;
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        // Positive exponents here are at least 21, so Go's two-digit minimum never pads; negative
        // ones have Go's leading zero removed ("e-07" becomes "e-7"), i.e. no padding either.
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(exponent.unsigned_abs())
                .as_bytes(),
        );
    }
}

/// Reads ryu's exponent (`"16"`, `"-7"`) from the bytes after the `e`.
fn parse_exponent(bytes: impl Iterator<Item = u8>) -> i32 {
    let mut negative = false;
    let mut magnitude: i32 = 0;
    for byte in bytes {
        match byte {
            b'-' => negative = true,
            b'0'..=b'9' => magnitude = magnitude * 10 + i32::from(byte - b'0'),
            _ => {}
        }
    }
    if negative { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(value: f64) -> String {
        let mut out = Vec::new();
        write_go_float(value, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn integral_values_print_without_fraction() {
        assert_eq!(go(0.0), "0");
        assert_eq!(go(-0.0), "-0");
        assert_eq!(go(1.0), "1");
        assert_eq!(go(-1.0), "-1");
        assert_eq!(go(200.0), "200");
        assert_eq!(go(4_294_968_064.0), "4294968064");
        assert_eq!(go(2_147_483_646.0), "2147483646");
        assert_eq!(go(9_007_199_254_740_991.0), "9007199254740991");
    }

    #[test]
    fn large_integers_use_shortest_digits_padded_with_zeros() {
        // Go: strconv.FormatFloat(float64(1<<53), 'f', -1, 64) and 1<<60.
        assert_eq!(go(9_007_199_254_740_992.0), "9007199254740992");
        assert_eq!(go(1_152_921_504_606_846_976.0), "1152921504606847000");
        assert_eq!(go(1e20), "100000000000000000000");
        assert_eq!(go(123_456_789_012_345_680_000.0), "123456789012345680000");
    }

    #[test]
    fn fractions_print_plainly_inside_the_plain_range() {
        assert_eq!(go(0.1), "0.1");
        assert_eq!(go(-2.5), "-2.5");
        assert_eq!(go(123.456), "123.456");
        assert_eq!(go(0.000001), "0.000001");
        assert_eq!(go(1.5e-6), "0.0000015");
        assert_eq!(go(1e15 + 0.5), "1000000000000000.5");
    }

    #[test]
    fn exponent_form_outside_the_plain_range() {
        assert_eq!(go(1e21), "1e+21");
        assert_eq!(go(-1e21), "-1e+21");
        assert_eq!(go(1.5e300), "1.5e+300");
        assert_eq!(go(1e-7), "1e-7");
        assert_eq!(go(1.2345e-7), "1.2345e-7");
        assert_eq!(go(9.99e-10), "9.99e-10");
        assert_eq!(go(1e-100), "1e-100");
        assert_eq!(go(5e-324), "5e-324");
        assert_eq!(go(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(go(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    }

    #[test]
    fn every_form_reads_back_as_the_same_double() {
        let samples = [
            0.1,
            1.0 / 3.0,
            2.0f64.powi(70),
            6.02214076e23,
            1e-6,
            9.999999e-7,
            123e-20,
            0.3,
            1e21 - 65536.0,
            4.35,
            100.25,
            7e22,
        ];
        for value in samples {
            for signed in [value, -value] {
                let text = go(signed);
                assert_eq!(text.parse::<f64>().ok(), Some(signed), "{text}");
            }
        }
    }
}
