package org.twofa.authenticator.otp;

public final class CodeTool {
    public static void main(String[] args) {
        System.out.println("placeholder");
    }
}
