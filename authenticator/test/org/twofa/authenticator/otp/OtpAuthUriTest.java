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
        assertInvalid("otpauth://totp/Ex:alice?secret=GEZDGNBVGY3TQOJQ=G", "secret", "padding");
        assertInvalid("otpauth://totp/Ex:alice?secret=GEZD%20GNBV*GY3T", "secret", "base32");
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
    public void otherTypesAreRefused() {
        assertInvalid("otpauth://steam/Ex:alice?secret=" + SECRET, "type", "steam");
        assertInvalid("https://example.org/totp/Ex:alice?secret=" + SECRET, "scheme", "otpauth");
        assertInvalid("otpauth:totp/Ex:alice?secret=" + SECRET, "scheme", "otpauth");
    }

    @Test
    public void hotpLinks() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=5&digits=8&algorithm=SHA256");
        assertTrue(u.isHotp());
        assertEquals(null, u.totp());
        assertEquals(5, u.hotp().counter());
        assertEquals(8, u.hotp().digits());
        assertEquals(Algorithm.SHA256, u.hotp().algorithm());
        assertEquals("Ex", u.issuer());
        assertEquals(Hotp.code(Base32.decode(SECRET), 5, 8, Algorithm.SHA256), u.hotp().code());
        assertEquals(Hotp.code(Base32.decode(SECRET), 6, 8, Algorithm.SHA256), u.hotp().next().code());
        // A period means nothing to HOTP and is ignored, as other unknown parameters are.
        assertEquals(0, OtpAuthUri.parse("otpauth://HOTP/a?secret=" + SECRET + "&counter=0&period=30").hotp().counter());
        OtpAuthUri again = OtpAuthUri.parse(u.toUri());
        assertEquals(u.hotp(), again.hotp());
        assertEquals("alice", again.accountName());
    }

    @Test
    public void hotpRefusals() {
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET, "counter", "needs a counter");
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=", "counter", "whole number");
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=-1", "counter", "whole number");
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=1e3", "counter", "whole number");
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=1&counter=2", "counter", "twice");
        assertInvalid("otpauth://hotp/Ex:alice?secret=" + SECRET + "&counter=99999999999999999999", "counter",
                "whole number");
        assertInvalid("otpauth://hotp?secret=" + SECRET + "&counter=1", "label", "otpauth://hotp/");
    }

    @Test
    public void issuerParameterWinsOverTheLabel() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("otpauth://totp/Old%20Name:alice?secret=" + SECRET + "&issuer=New%20Name");
        assertEquals("New Name", u.issuer());
        assertEquals("alice", u.accountName());
        // An empty issuer parameter does not erase the label's.
        assertEquals("Old", OtpAuthUri.parse("otpauth://totp/Old:alice?secret=" + SECRET + "&issuer=").issuer());
    }

    @Test
    public void plusIsASpaceInQueryValuesOnly() throws Exception {
        OtpAuthUri u = OtpAuthUri.parse("otpauth://totp/Big+Bank:bob?secret=" + SECRET + "&issuer=Big+Bank");
        assertEquals("Big Bank", u.issuer());
        // In the label (a path) '+' is itself; only the query is form-encoded.
        assertEquals("bob", u.accountName());
        assertEquals("a+b", OtpAuthUri.parse("otpauth://totp/a+b?secret=" + SECRET).accountName());
        assertEquals("x+y", OtpAuthUri.parse("otpauth://totp/a?secret=" + SECRET + "&issuer=x%2By").issuer());
    }

    @Test
    public void lenientBase32InLinks() throws Exception {
        // 26 characters (130 bits) and a last character with non-zero spare bits: other apps take both.
        OtpAuthUri u = OtpAuthUri.parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXPJBSWY3DPEH");
        assertEquals(16, u.totp().secret().length);
        OtpAuthUri v = OtpAuthUri.parse("otpauth://totp/a?secret=JBSWY3DPEHPK3PXPJBSWY3DPEF");
        assertEquals(u.totp(), v.totp());
        OtpAuthUri w = OtpAuthUri.parse("otpauth://totp/a?secret=jbsw+y3dp+ehpk+3pxp+jbsw+y3dp+eh");
        assertEquals(u.totp(), w.totp());
    }

    @Test
    public void manualEntry() throws Exception {
        OtpAuthUri t = OtpAuthUri.manual(false, " Ex ", " alice ", "jbsw y3dp ehpk 3pxp", "SHA512", "8", "60", null);
        assertEquals("Ex", t.issuer());
        assertEquals("alice", t.accountName());
        assertEquals(new Totp(Base32.decode("JBSWY3DPEHPK3PXP"), Algorithm.SHA512, 8, 60), t.totp());
        OtpAuthUri d = OtpAuthUri.manual(false, "", "bob", SECRET, null, null, null, null);
        assertEquals(new Totp(Base32.decode(SECRET), Algorithm.SHA1, 6, 30), d.totp());
        OtpAuthUri h = OtpAuthUri.manual(true, "", "carol", SECRET, "SHA1", "6", null, "");
        assertEquals(0, h.hotp().counter());
        assertEquals(7, OtpAuthUri.manual(true, "", "carol", SECRET, null, null, null, "7").hotp().counter());
        assertManualInvalid(false, "", SECRET, null, null, null, null, "label");
        assertManualInvalid(false, "a", "", null, null, null, null, "secret");
        assertManualInvalid(false, "a", "JBSWY3DP", null, null, null, null, "secret");
        assertManualInvalid(false, "a", "1234567890123456", null, null, null, null, "secret");
        assertManualInvalid(false, "a", SECRET, "MD5", null, null, null, "algorithm");
        assertManualInvalid(false, "a", SECRET, null, "10", null, null, "digits");
        assertManualInvalid(false, "a", SECRET, null, null, "0", null, "period");
        assertManualInvalid(true, "a", SECRET, null, null, null, "x", "counter");
    }

    private static void assertManualInvalid(boolean hotp, String name, String secret, String algorithm, String digits,
            String period, String counter, String field) {
        try {
            OtpAuthUri.manual(hotp, "", name, secret, algorithm, digits, period, counter);
            fail("accepted " + name + " / " + secret);
        } catch (InvalidOtpAuthUriException e) {
            assertEquals(e.getMessage(), field, e.field());
        }
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
