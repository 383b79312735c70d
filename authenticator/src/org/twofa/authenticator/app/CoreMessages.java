package org.twofa.authenticator.app;

import android.content.Context;
import org.twofa.authenticator.R;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;

/**
 * The core's messages (plain Java, English) in the user's language: one
 * translated sentence per field at fault, followed by the core's detail.
 * In English the detail alone says it all.
 */
final class CoreMessages {
    private CoreMessages() {}

    static String of(Context context, InvalidOtpAuthUriException e) {
        int id;
        switch (e.field()) {
            case "scheme": id = R.string.uri_error_scheme; break;
            case "type": id = R.string.uri_error_type; break;
            case "label": id = R.string.uri_error_label; break;
            case "secret": id = R.string.uri_error_secret; break;
            case "issuer": id = R.string.uri_error_issuer; break;
            case "algorithm": id = R.string.uri_error_algorithm; break;
            case "digits": id = R.string.uri_error_digits; break;
            case "period": id = R.string.uri_error_period; break;
            case "counter": id = R.string.uri_error_counter; break;
            default: id = R.string.uri_error_query; break;
        }
        return context.getString(id, e.getMessage());
    }
}
