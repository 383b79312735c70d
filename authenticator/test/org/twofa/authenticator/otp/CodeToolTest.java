package org.twofa.authenticator.otp;

import static org.junit.Assert.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.Test;

public class CodeToolTest {
    @Test
    public void printsTheCodeAtAGivenTime() throws Exception {
        PrintStream saved = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, "UTF-8"));
        try {
            CodeTool.main(new String[] {
                "otpauth://totp/twofa:alice%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=twofa"
                        + "&algorithm=SHA1&digits=8&period=30",
                "1111111109"});
        } finally {
            System.setOut(saved);
        }
        assertEquals("07081804", new String(captured.toByteArray(), StandardCharsets.UTF_8).trim());
    }
}
