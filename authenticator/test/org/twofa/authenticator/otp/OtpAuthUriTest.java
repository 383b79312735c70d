package org.twofa.authenticator.otp;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

public class OtpAuthUriTest {
    private static final String SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    private static void assertInvalid(String uri, String field, String messagePart) {
        try {
            OtpAuthUri.parse(uri);
            fail("accepted " + uri);
        } catch (InvalidOtpAuthUriException e) {
            assertEquals("field for " + uri + " (" + e.getMessage() + ")", field, e.field());
            assertTrue("message '" + e.getMessage() + "' should mention '" + messagePart + "'",
                    e.getMessage().contains(messagePart));
        }
    }

    @Test
    public void twofaEnrolmentLink() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("otpauth://totp/twofa:alice%40example.org?secret=" + SECRET
                + "&issuer=twofa&algorithm=SHA1&digits=6&period=30");
        assertEquals("twofa", u.issuer());
        assertEquals("alice@example.org", u.accountName());
        assertEquals(Algorithm.SHA1, u.totp().algorithm());
        assertEquals(6, u.totp().digits());
        assertEquals(30, u.totp().period());
        assertArrayEquals(RfcVectorsTest.hex("3132333435363738393031323334353637383930"), u.totp().secret());
        assertEquals("287082", u.totp().code(59));
    }

    @Test
    public void defaultsAndOtherParameters() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("OTPAUTH://TOTP/Example:bob@example.org?secret=jbsw y3dp ehpk 3pxp");
        assertEquals("Example", u.issuer());
        assertEquals("bob@example.org", u.accountName());
        assertEquals(Algorithm.SHA1, u.totp().algorithm());
        assertEquals(6, u.totp().digits());
        assertEquals(30, u.totp().period());

        OtpAuthUri v = OtpAuthUri.parse("otpauth://totp/ACME%20Co:%20john.doe%40email.com?secret=" + SECRET
                + "&issuer=ACME%20Co&algorithm=sha512&digits=8&period=60&image=https%3A%2F%2Fexample.org%2Fx.png");
        assertEquals("ACME Co", v.issuer());
        assertEquals("john.doe@email.com", v.accountName());
        assertEquals(Algorithm.SHA512, v.totp().algorithm());
        assertEquals(8, v.totp().digits());
        assertEquals(60, v.totp().period());
    }

    @Test
    public void percentEncodingDecodesUtf8() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("otpauth://totp/Ma%C3%A7%C3%A3:jos%C3%A9%2Bx?secret=" + SECRET);
        assertEquals("Maçã", u.issuer());
        assertEquals("josé+x", u.accountName());
        // An encoded colon is still the issuer separator once decoded, as the format says.
        OtpAuthUri w = OtpAuthUri.parse("otpauth://totp/Big%3Acarol?secret=" + SECRET);
        assertEquals("Big", w.issuer());
        assertEquals("carol", w.accountName());
    }

    @Test
    public void badPercentEncoding() {
        assertInvalid("otpauth://totp/Ex:al%ZZice?secret=" + SECRET, "label", "percent-encoding");
        assertInvalid("otpauth://totp/Ex:alice%4?secret=" + SECRET, "label", "percent-encoding");
        assertInvalid("otpauth://totp/Ex:alice%?secret=" + SECRET, "label", "percent-encoding");
        assertInvalid("otpauth://totp/Ex:%C3%28?secret=" + SECRET, "label", "UTF-8");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&issuer=E%x", "issuer", "percent-encoding");
    }

    @Test
    public void labelWithoutIssuer() throws Exception {
        OtpAuthUri fromParameter = OtpAuthUri.parse("otpauth://totp/alice?secret=" + SECRET + "&issuer=Example");
        assertEquals("Example", fromParameter.issuer());
        assertEquals("alice", fromParameter.accountName());
        OtpAuthUri none = OtpAuthUri.parse("otpauth://totp/alice?secret=" + SECRET);
        assertEquals("", none.issuer());
        assertEquals("alice", none.accountName());
        assertInvalid("otpauth://totp/:alice?secret=" + SECRET, "label", "issuer");
        assertInvalid("otpauth://totp/Example:?secret=" + SECRET, "label", "account");
        assertInvalid("otpauth://totp/?secret=" + SECRET, "label", "account");
        assertInvalid("otpauth://totp?secret=" + SECRET, "label", "no label");
        assertInvalid("otpauth://totp/A:alice?secret=" + SECRET + "&issuer=B", "issuer", "differs");
    }

    @Test
    public void missingSecret() {
        assertInvalid("otpauth://totp/Ex:alice", "secret", "no secret");
        assertInvalid("otpauth://totp/Ex:alice?issuer=Ex", "secret", "no secret");
        assertInvalid("otpauth://totp/Ex:alice?secret=&issuer=Ex", "secret", "no secret");
    }

    @Test
    public void badBase32() {
        assertInvalid("otpauth://totp/Ex:alice?secret=GEZDGNBVGY3TQOJ1", "secret", "base32");
        assertInvalid("otpauth://totp/Ex:alice?secret=GEZDGNBVGY3TQOJQG", "secret", "base32");
        assertInvalid("otpauth://totp/Ex:alice?secret=JBSWY3DP", "secret", "too short");
    }

    @Test
    public void unknownAlgorithm() {
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&algorithm=MD5", "algorithm", "MD5");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&algorithm=", "algorithm", "unknown");
    }

    @Test
    public void digitsOutOfRange() throws Exception {
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&digits=5", "digits", "6, 7 or 8");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&digits=9", "digits", "6, 7 or 8");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&digits=six", "digits", "whole number");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&digits=-6", "digits", "whole number");
        assertEquals(7, OtpAuthUri.parse("otpauth://totp/Ex:alice?secret=" + SECRET + "&digits=7").totp().digits());
    }

    @Test
    public void periodZeroAndOtherBadPeriods() {
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&period=0", "period", "period must be");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&period=-30", "period", "whole number");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&period=30s", "period", "whole number");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&period=99999999999", "period", "whole number");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&period=86401", "period", "period must be");
    }

    @Test
    public void hotpAndOtherTypesAreRefused() {
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=0", "type", "hotp");
        assertInvalid("otpauth://steam/Ex:alice?secret=" + SECRET, "type", "steam");
        assertInvalid("https://example.org/totp/Ex:alice?secret=" + SECRET, "scheme", "otpauth");
        assertInvalid("otpauth:totp/Ex:alice?secret=" + SECRET, "scheme", "otpauth");
    }

    @Test
    public void repeatedParameterIsRefused() {
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&secret=" + SECRET, "secret", "twice");
        assertInvalid("otpauth://totp/Ex:alice?secret=" + SECRET + "&digits=6&digits=8", "digits", "twice");
    }

    @Test
    public void toUriRoundTrips() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("otpauth://totp/ACME%20Co:j%C3%B6rg%40example.org?secret=" + SECRET
                + "&issuer=ACME%20Co&algorithm=SHA256&digits=8&period=45");
        OtpAuthUri again = OtpAuthUri.parse(u.toUri());
        assertEquals(u.issuer(), again.issuer());
        assertEquals(u.accountName(), again.accountName());
        assertEquals(u.totp(), again.totp());
    }
}
