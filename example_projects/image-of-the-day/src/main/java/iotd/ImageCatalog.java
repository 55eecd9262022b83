package iotd;

import java.time.LocalDate;
import java.util.List;

/** The images the service knows, and which one is shown on a given day. */
final class ImageCatalog {

    private static final String COMMONS = "https://commons.wikimedia.org/wiki/Special:FilePath/";

    private final List<Image> images;

    ImageCatalog(List<Image> images) {
        if (images.isEmpty()) {
            throw new IllegalArgumentException("the catalog needs at least one image");
        }
        this.images = List.copyOf(images);
    }

    /** A few well-known public-domain space photographs. */
    static ImageCatalog standard() {
        return new ImageCatalog(List.of(
                new Image(COMMONS + "The_Earth_seen_from_Apollo_17.jpg",
                        "\"The Blue Marble\": Earth seen by the crew of Apollo 17, 7 December 1972",
                        "NASA (public domain)"),
                new Image(COMMONS + "NASA-Apollo8-Dec24-Earthrise.jpg",
                        "Earthrise over the Moon's horizon, photographed from Apollo 8",
                        "NASA / Bill Anders (public domain)"),
                new Image(COMMONS + "Aldrin_Apollo_11_original.jpg",
                        "Buzz Aldrin on the Moon — Apollo 11, July 1969",
                        "NASA / Neil Armstrong (public domain)"),
                new Image(COMMONS + "Pale_Blue_Dot.png",
                        "The \"Pale Blue Dot\": Earth from 6 billion kilometres, seen by Voyager 1",
                        "NASA / JPL-Caltech (public domain)"),
                new Image(COMMONS + "Pillars_of_creation_2014_HST_WFC3-UVIS_full-res_denoised.jpg",
                        "The Pillars of Creation in the Eagle Nebula, Hubble Space Telescope",
                        "NASA, ESA and the Hubble Heritage Team (public domain)")));
    }

    /** The image of the day {@code date}: the catalog is walked through by day of year. */
    Image imageFor(LocalDate date) {
        return images.get((date.getDayOfYear() - 1) % images.size());
    }
}
