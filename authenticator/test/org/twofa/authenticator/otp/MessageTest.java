package org.twofa.authenticator.otp;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.junit.Test;

/** The core's messages in Portuguese: every one translated, with the same placeholders. */
public class MessageTest {
    private static int placeholders(String template) {
        return template.replace("%%", "").split("%s", -1).length - 1;
    }

    @Test
    public void everyMessageIsTranslatedWithTheSamePlaceholders() {
        for (Message m : Message.values()) {
            String en = m.template("en");
            String pt = m.template("pt");
            assertFalse(m + " has no Portuguese", pt.isEmpty());
            assertFalse(m + " is not translated", pt.equals(en));
            assertEquals(m + " placeholders", placeholders(en), placeholders(pt));
        }
    }

    private static InvalidOtpAuthUriException refusal(String uri) {
        try {
            OtpAuthUri.parse(uri);
            fail("accepted " + uri);
            return null;
        } catch (InvalidOtpAuthUriException e) {
            return e;
        }
    }

    @Test
    public void refusalsInPortuguese() {
        InvalidOtpAuthUriException digits = refusal("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&digits=9");
        assertEquals("digits must be 6, 7 or 8, not 9", digits.getMessage());
        assertEquals("os dígitos devem ser 6, 7 ou 8, não 9", digits.localizedMessage("pt"));
        assertEquals("digits must be 6, 7 or 8, not 9", digits.localizedMessage("de"));

        // A nested base32 message follows the language of the outer one.
        InvalidOtpAuthUriException secret = refusal("otpauth://totp/a?secret=JBSW*3DPEHPK3PXP");
        assertEquals("a chave secreta não é base32 válido: '*' na posição 5 não é um caractere base32 (A-Z, 2-7)",
                secret.localizedMessage("pt"));
        assertTrue(secret.getMessage().startsWith("the secret is not valid base32: '*' at position 5"));

        // Field names are translated inside a message.
        InvalidOtpAuthUriException period = refusal("otpauth://totp/a?secret=JBSWY3DPEHPK3PXP&period=3x");
        assertEquals("período deve ser um número inteiro, não '3x'", period.localizedMessage("pt"));
        assertEquals("period must be a whole number, not '3x'", period.getMessage());
        InvalidOtpAuthUriException percent = refusal("otpauth://totp/a%4?secret=JBSWY3DPEHPK3PXP");
        assertEquals("codificação percentual inválida em rótulo: '%' deve ser seguido de dois dígitos hexadecimais",
                percent.localizedMessage("pt"));
    }
}
