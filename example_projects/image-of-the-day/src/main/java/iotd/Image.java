package iotd;

/** One "image of the day": where it is, what it shows and who owns it. */
public record Image(String url, String caption, String copyright) {

    /** This image as a JSON object with the keys url, caption and copyright. */
    public String toJson() {
        return "{\"url\": " + Json.string(url)
                + ", \"caption\": " + Json.string(caption)
                + ", \"copyright\": " + Json.string(copyright) + "}";
    }
}
