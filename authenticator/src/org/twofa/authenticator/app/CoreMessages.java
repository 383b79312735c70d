package org.twofa.authenticator.app;

import java.util.Locale;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;
import org.twofa.authenticator.otp.Message;

/** The core's messages (plain Java) in the phone's language. */
final class CoreMessages {
    private CoreMessages() {}

    /** A link's refusal, capitalised as a sentence. */
    static String of(InvalidOtpAuthUriException e) {
        String text = e.localizedMessage(Locale.getDefault().getLanguage());
        if (text.isEmpty()) {
            return text;
        }
        return text.substring(0, 1).toUpperCase(Locale.getDefault()) + text.substring(1) + ".";
    }

    /**
     * Why an import or the vault failed, as it goes inside a translated sentence ("Nothing was imported: %1$s"):
     * the core's own message in the phone's language, else whatever the exception says.
     */
    static String inSentence(Throwable e) {
        if (e instanceof Message.Text) {
            return ((Message.Text) e).in(Locale.getDefault().getLanguage());
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
