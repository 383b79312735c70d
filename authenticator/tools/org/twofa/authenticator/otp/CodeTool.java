package org.twofa.authenticator.otp;

/**
 * Command line: prints the current code for an otpauth link, computed by the
 * same core the app uses. {@code java -cp CLASSES
 * org.twofa.authenticator.otp.CodeTool 'otpauth://totp/…' [unix-seconds]}.
 * The service's cross-check test uses it to log in with the app's maths.
 */
public final class CodeTool {
    private CodeTool() {}

    public static void main(String[] args) {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: CodeTool 'otpauth://totp/Issuer:account?secret=…' [unix-seconds]");
            System.exit(2);
        }
        try {
            long now = args.length == 2 ? Long.parseLong(args[1]) : System.currentTimeMillis() / 1000L;
            System.out.println(OtpAuthUri.parse(args[0]).totp().code(now));
        } catch (InvalidOtpAuthUriException e) {
            System.err.println("invalid otpauth link (" + e.field() + "): " + e.getMessage());
            System.exit(1);
        } catch (NumberFormatException e) {
            System.err.println("the time must be whole seconds since 1970: " + args[1]);
            System.exit(2);
        }
    }
}
