package org.twofa.authenticator.vault;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
    @Test
    public void writesAndReadsBack() throws Exception {
        Map<String, Object> m = new LinkedHashMap<String, Object>();
        m.put("s", "a\"b\\c\n\u0001é");
        m.put("n", Long.valueOf(-12345678901L));
        m.put("t", Boolean.TRUE);
        m.put("z", null);
        m.put("l", Arrays.<Object>asList(Long.valueOf(1), "x", Arrays.asList()));
        String text = Json.write(m);
        assertEquals("{\"s\":\"a\\\"b\\\\c\\u000a\\u0001é\",\"n\":-12345678901,\"t\":true,\"z\":null,"
                + "\"l\":[1,\"x\",[]]}", text);
        assertEquals(m, Json.parse(text));
        assertEquals(m, Json.parse(" \n" + text.replace(",", " ,\t") + " "));
        assertEquals("é/\n", Json.parse("\"\\u00e9\\/\\n\""));
        assertEquals(Arrays.asList(), (List<?>) Json.parse("[]"));
    }

    @Test
    public void refusesMalformedJson() {
        String[] bad = {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":1}x", "\"abc", "1.5", "1e3", "tru",
            "{\"a\":1,\"a\":2}", "[\"\u0001\"]", "\"\\q\"", "99999999999999999999", "{1:2}"};
        for (String s : bad) {
            try {
                Json.parse(s);
                fail("parsed " + s);
            } catch (Json.ParseException expected) {
                // refused
            }
        }
    }
}
