package org.twofa.authenticator.vault;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The small JSON subset the vault (and the tests' vector file) need: objects,
 * arrays, strings, integers, booleans and null. Objects keep their key order
 * so that writing is deterministic. No floating point: nothing here needs it.
 */
public final class Json {
    private Json() {}

    /** Thrown for text that is not JSON (or uses what this subset leaves out). */
    public static final class ParseException extends Exception {
        private static final long serialVersionUID = 1L;

        ParseException(String message, int position) {
            super(message + " at character " + (position + 1));
        }
    }

    // ------------------------------------------------------------ reading

    /** Map (LinkedHashMap), List, String, Long, Boolean or null. */
    public static Object parse(String text) throws ParseException {
        Json.Reader r = new Json.Reader(text);
        r.skipSpace();
        Object value = r.value(0);
        r.skipSpace();
        if (r.pos != text.length()) {
            throw new ParseException("unexpected text after the JSON value", r.pos);
        }
        return value;
    }

    private static final class Reader {
        private static final int MAX_DEPTH = 64;
        private final String s;
        private int pos;

        Reader(String s) {
            this.s = s;
        }

        void skipSpace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                    break;
                }
                pos++;
            }
        }

        Object value(int depth) throws ParseException {
            if (depth > MAX_DEPTH) {
                throw new ParseException("JSON nested too deeply", pos);
            }
            if (pos >= s.length()) {
                throw new ParseException("unexpected end of JSON", pos);
            }
            char c = s.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 't':
                    literal("true");
                    return Boolean.TRUE;
                case 'f':
                    literal("false");
                    return Boolean.FALSE;
                case 'n':
                    literal("null");
                    return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw new ParseException("unexpected character '" + c + "'", pos);
            }
        }

        private void literal(String word) throws ParseException {
            if (!s.startsWith(word, pos)) {
                throw new ParseException("expected " + word, pos);
            }
            pos += word.length();
        }

        private void expect(char c) throws ParseException {
            if (pos >= s.length() || s.charAt(pos) != c) {
                throw new ParseException("expected '" + c + "'", pos);
            }
            pos++;
        }

        private Map<String, Object> object(int depth) throws ParseException {
            Map<String, Object> map = new LinkedHashMap<String, Object>();
            expect('{');
            skipSpace();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipSpace();
                int keyAt = pos;
                if (pos >= s.length() || s.charAt(pos) != '"') {
                    throw new ParseException("expected a string key", pos);
                }
                String key = string();
                if (map.containsKey(key)) {
                    throw new ParseException("duplicate key \"" + key + "\"", keyAt);
                }
                skipSpace();
                expect(':');
                skipSpace();
                map.put(key, value(depth + 1));
                skipSpace();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                    continue;
                }
                expect('}');
                return map;
            }
        }

        private List<Object> array(int depth) throws ParseException {
            List<Object> list = new ArrayList<Object>();
            expect('[');
            skipSpace();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return list;
            }
            while (true) {
                skipSpace();
                list.add(value(depth + 1));
                skipSpace();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                    continue;
                }
                expect(']');
                return list;
            }
        }

        private String string() throws ParseException {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw new ParseException("unterminated string", pos);
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return b.toString();
                }
                if (c < 0x20) {
                    throw new ParseException("control character in a string", pos - 1);
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (pos >= s.length()) {
                    throw new ParseException("unterminated escape", pos);
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"': b.append('"'); break;
                    case '\\': b.append('\\'); break;
                    case '/': b.append('/'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'n': b.append('\n'); break;
                    case 'r': b.append('\r'); break;
                    case 't': b.append('\t'); break;
                    case 'u':
                        if (pos + 4 > s.length()) {
                            throw new ParseException("short \\u escape", pos);
                        }
                        int code = 0;
                        for (int i = 0; i < 4; i++) {
                            int d = Character.digit(s.charAt(pos + i), 16);
                            if (d < 0) {
                                throw new ParseException("bad \\u escape", pos);
                            }
                            code = code * 16 + d;
                        }
                        pos += 4;
                        b.append((char) code);
                        break;
                    default:
                        throw new ParseException("unknown escape \\" + e, pos - 1);
                }
            }
        }

        private Long number() throws ParseException {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            int digitsStart = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
            if (pos == digitsStart) {
                throw new ParseException("expected digits", pos);
            }
            if (pos < s.length() && (s.charAt(pos) == '.' || s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                throw new ParseException("only whole numbers are supported", pos);
            }
            try {
                return Long.valueOf(s.substring(start, pos));
            } catch (NumberFormatException e) {
                throw new ParseException("number out of range", start);
            }
        }
    }

    // ------------------------------------------------------------ writing

    /** Compact JSON for Map, List, String, Number (integers), Boolean or null. */
    public static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(value, b);
        return b.toString();
    }

    private static void write(Object value, StringBuilder b) {
        if (value == null) {
            b.append("null");
        } else if (value instanceof String) {
            quote((String) value, b);
        } else if (value instanceof Long || value instanceof Integer) {
            b.append(value.toString());
        } else if (value instanceof Boolean) {
            b.append(value.toString());
        } else if (value instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                quote((String) e.getKey(), b);
                b.append(':');
                write(e.getValue(), b);
            }
            b.append('}');
        } else if (value instanceof List) {
            b.append('[');
            boolean first = true;
            for (Object item : (List<?>) value) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                write(item, b);
            }
            b.append(']');
        } else {
            throw new IllegalArgumentException("cannot write " + value.getClass() + " as JSON");
        }
    }

    private static void quote(String s, StringBuilder b) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                String hex = Integer.toHexString(c);
                b.append("\\u");
                for (int k = hex.length(); k < 4; k++) {
                    b.append('0');
                }
                b.append(hex);
            } else {
                b.append(c);
            }
        }
        b.append('"');
    }
}
