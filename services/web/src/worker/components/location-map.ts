// The small map of the report page: my grids' outlines and a pin at the event's place, moved by dragging it or
// tapping the map (the page's longitude and latitude fields move it too). Leaflet and its CSS are bundled (and
// cached for offline by the service worker); no tile is requested unless a base-map URL is configured.

import "leaflet/dist/leaflet.css";

import L from "leaflet";

import type { GridCollection, GridProperties } from "../../api/types";
import type { WebConfig } from "../../config";

const PIN = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 44" width="32" height="44" aria-hidden="true">
<path d="M16 43 3.4 24.6A15 15 0 1 1 28.6 24.6Z" fill="#d32f2f" stroke="#ffffff" stroke-width="2.5"/>
<circle cx="16" cy="15" r="5.5" fill="#ffffff"/></svg>`;

export class LocationMap {
  private readonly map: L.Map;
  private readonly marker: L.Marker;

  constructor(
    container: HTMLElement,
    config: WebConfig,
    at: { lon: number; lat: number },
    private readonly onMove: (lon: number, lat: number) => void,
  ) {
    container.setAttribute("role", "region");
    container.setAttribute("aria-label", "事发位置地图：拖动红色标记或点击地图选择位置");
    this.map = L.map(container, { zoomControl: false, attributionControl: true, minZoom: 3, maxZoom: 19 });
    L.control.zoom({ zoomInTitle: "放大", zoomOutTitle: "缩小", position: "topleft" }).addTo(this.map);
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com" rel="noopener">Leaflet</a>');
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, {
        attribution: config.tileAttribution,
        subdomains: config.tileSubdomains || "abc",
        maxZoom: 19,
        crossOrigin: true,
      }).addTo(this.map);
    } else {
      container.classList.add("no-basemap");
    }
    this.map.setView([at.lat, at.lon], 16); // before the pin: its element is made when it joins a map with a view
    const icon = L.divIcon({ html: PIN, className: "w-pin", iconSize: [32, 44], iconAnchor: [16, 43] });
    this.marker = L.marker([at.lat, at.lon], { icon, draggable: true, autoPan: true, title: "事发位置（可拖动）", keyboard: true })
      .addTo(this.map);
    const element = this.marker.getElement();
    element?.setAttribute("aria-label", "事发位置标记（可拖动）");
    element?.setAttribute("data-testid", "report-pin");
    this.marker.on("dragend", () => {
      const where = this.marker.getLatLng();
      this.onMove(where.lng, where.lat);
    });
    this.map.on("click", (event: L.LeafletMouseEvent) => {
      this.marker.setLatLng(event.latlng);
      this.onMove(event.latlng.lng, event.latlng.lat);
    });
  }

  setOutlines(outlines: GridCollection): void {
    L.geoJSON<GridProperties>(outlines, {
      interactive: false,
      style: (feature) => ({
        color: feature?.properties.level === "grid" ? "#1f3a5f" : "#546e7a",
        weight: feature?.properties.level === "grid" ? 2.5 : 1.5,
        opacity: 0.9,
        fillColor: "#cfd8e3",
        fillOpacity: 0.25,
      }),
    } as L.GeoJSONOptions<GridProperties>).addTo(this.map);
  }

  /** Move the pin (the fields changed, or the phone gave a position) without calling back. */
  moveTo(lon: number, lat: number, centre = true): void {
    this.marker.setLatLng([lat, lon]);
    if (centre) this.map.panTo([lat, lon]);
  }

  invalidate(): void {
    this.map.invalidateSize();
  }

  remove(): void {
    this.map.remove();
  }
}
