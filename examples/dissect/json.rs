//! A minimal JSON object writer for `dissect`'s hot loop: keys are the contract's fixed
//! ASCII names and values are numbers, booleans or ASCII text made here, so nothing needs
//! escaping but the error message (escaped by serde_json). Measured with callgrind,
//! serde_json's general serializer spent most of a frame's instructions escaping keys.

/// An object being written into `out`.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Opens an object.
    #[inline(always)]
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Writes `"key":` (and the comma before it).
    // Always inlined, as every method here: the keys are constants, so the copies become
    // a few stores instead of `memcpy` calls (measured: half of dissect's instructions).
    #[inline(always)]
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A number.
    #[inline(always)]
    pub fn num(&mut self, key: &str, value: impl itoa::Integer) -> &mut Self {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(value).as_bytes();
        self.key(key).extend_from_slice(text);
        self
    }

    /// A boolean.
    #[inline(always)]
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.key(key).extend_from_slice(text);
        self
    }

    /// `null`, or a boolean.
    #[inline(always)]
    pub fn opt_bool(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        match value {
            Some(value) => self.bool(key, value),
            None => {
                self.key(key).extend_from_slice(b"null");
                self
            }
        }
    }

    /// Text that needs no escaping (ASCII made by this program: names, addresses).
    #[inline(always)]
    pub fn ascii(&mut self, key: &str, text: &[u8]) -> &mut Self {
        let out = self.key(key);
        out.push(b'"');
        out.extend_from_slice(text);
        out.push(b'"');
        self
    }

    /// Any text, escaped as JSON requires; `None` is `null`.
    #[inline(always)]
    pub fn text(&mut self, key: &str, text: Option<&str>) -> &mut Self {
        let out = self.key(key);
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &text);
        self
    }

    /// `"ethertype"`, or `"length"` for a value below 1536: an IEEE 802.3 length.
    #[inline(always)]
    pub fn type_or_length(&mut self, value: tunnelwire::wire::EtherType) -> &mut Self {
        let key = if value.is_length() {
            "length"
        } else {
            "ethertype"
        };
        self.num(key, value.0)
    }

    /// Writes `"key":[` and returns the writer for the array's items.
    #[inline(always)]
    pub fn array(&mut self, key: &str) -> &mut Vec<u8> {
        let out = self.key(key);
        out.push(b'[');
        out
    }

    /// Closes the object.
    #[inline(always)]
    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

/// "aa:bb:cc:dd:ee:ff".
pub fn mac(octets: [u8; 6]) -> [u8; 17] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b':'; 17];
    for (i, byte) in octets.iter().enumerate() {
        text[3 * i] = HEX[usize::from(byte >> 4)];
        text[3 * i + 1] = HEX[usize::from(byte & 0x0f)];
    }
    text
}

/// Lowercase hex of `bytes` into `text` (twice as long); returns its length.
pub fn hex(bytes: &[u8], text: &mut [u8]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in text.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    (2 * bytes.len()).min(text.len())
}

/// Dotted decimal into `text`; returns its length.
pub fn dotted(octets: [u8; 4], text: &mut [u8; 15]) -> usize {
    let mut len = 0;
    for (i, &byte) in octets.iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        if byte >= 100 {
            text[len] = b'0' + byte / 100;
            len += 1;
        }
        if byte >= 10 {
            text[len] = b'0' + byte / 10 % 10;
            len += 1;
        }
        text[len] = b'0' + byte % 10;
        len += 1;
    }
    len
}
