package org.twofa.authenticator.app;

import java.util.Locale;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;

/** The core's messages (plain Java) in the phone's language, capitalised as a sentence. */
final class CoreMessages {
    private CoreMessages() {}

    static String of(InvalidOtpAuthUriException e) {
        String text = e.localizedMessage(Locale.getDefault().getLanguage());
        if (text.isEmpty()) {
            return text;
        }
        return text.substring(0, 1).toUpperCase(Locale.getDefault()) + text.substring(1) + ".";
    }
}
