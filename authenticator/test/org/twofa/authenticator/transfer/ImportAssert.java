package org.twofa.authenticator.transfer;

import static org.junit.Assert.assertEquals;

import java.util.List;
import java.util.Map;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.Base32;
import org.twofa.authenticator.otp.HotpKey;
import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.otp.Totp;

/** Compares imported accounts with the expectations in expected.json. */
final class ImportAssert {
    private ImportAssert() {}

    static void sameAccounts(List<?> expected, List<OtpAuthUri> actual) throws Exception {
        assertEquals("number of accounts", expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            Map<?, ?> e = (Map<?, ?>) expected.get(i);
            OtpAuthUri a = actual.get(i);
            assertEquals(e.get("issuer"), a.issuer());
            assertEquals(e.get("name"), a.accountName());
            byte[] secret = Base32.decode((String) e.get("secret"));
            Algorithm algorithm = Algorithm.fromName((String) e.get("algo"));
            int digits = ((Long) e.get("digits")).intValue();
            if ("hotp".equals(e.get("type"))) {
                assertEquals(new HotpKey(secret, algorithm, digits, (Long) e.get("counter")), a.hotp());
            } else {
                assertEquals(new Totp(secret, algorithm, digits, ((Long) e.get("period")).intValue()), a.totp());
            }
        }
    }
}
